"""Atomic, deterministic file writing and input fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"mmpo"
ROW_GROUP_SIZE = 4096  # rows; long texts keep a group around tens of MB at most


def _replace_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_parquet(table: pa.Table, path: str | Path, metadata: Mapping[str, Any]) -> None:
    """Write ``table`` to ``path`` atomically with zstd and JSON file metadata.

    The metadata is stored under the ``mmpo`` key of the schema metadata with
    sorted keys, so equal tables and metadata give byte-identical files.
    """
    encoded = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode("utf-8")
    table = table.replace_schema_metadata({METADATA_KEY: encoded})

    def write(temporary: str) -> None:
        pq.write_table(
            table,
            temporary,
            compression="zstd",
            row_group_size=ROW_GROUP_SIZE,
            write_statistics=True,
        )

    _replace_atomically(Path(path), write)


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """Return the ``mmpo`` JSON metadata of a Parquet file, or None for a file written elsewhere."""
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return None if raw is None else json.loads(raw)


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON with sorted keys, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(temporary: str) -> None:
        Path(temporary).write_text(text, encoding="utf-8")

    _replace_atomically(Path(path), write)


def fingerprint(path: str | Path) -> str:
    """Return ``sha256:<hex>`` of a file, or of a folder's files by relative path.

    Folder fingerprints hash each file's relative path and content in sorted
    order, so they do not depend on the folder's location or listing order.
    """
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def write_text(text: str, path: str | Path) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""

    def write(temporary: str) -> None:
        Path(temporary).write_text(text, encoding="utf-8")

    _replace_atomically(Path(path), write)


def write_bytes(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically."""

    def write(temporary: str) -> None:
        Path(temporary).write_bytes(data)

    _replace_atomically(Path(path), write)


class ParquetChunkWriter:
    """Write tables of one schema to a Parquet file in full row groups, atomically on ``close``.

    Rows are buffered until ``ROW_GROUP_SIZE`` of them are waiting, so every
    row group but the last has exactly ``ROW_GROUP_SIZE`` rows, whatever the
    sizes of the written tables. The file layout therefore depends only on the
    rows and the metadata, and equal inputs give byte-identical files. The
    rows go to a temporary file beside ``path``, which replaces ``path`` on
    ``close`` and is removed by ``abort``.
    """

    def __init__(self, path: str | Path, schema: pa.Schema, metadata: Mapping[str, Any]) -> None:
        encoded = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode("utf-8")
        self.schema = schema.with_metadata({METADATA_KEY: encoded})
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, self._temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(handle)
        self._writer = pq.ParquetWriter(
            self._temporary, self.schema, compression="zstd", write_statistics=True
        )
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Add the rows of ``table``; full row groups go to disk at once."""
        self._pending.append(table.replace_schema_metadata(self.schema.metadata))
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_SIZE:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        buffered = pa.concat_tables(self._pending) if self._pending else self.schema.empty_table()
        full = buffered.num_rows if final else buffered.num_rows - buffered.num_rows % ROW_GROUP_SIZE
        if full:
            self._writer.write_table(buffered.slice(0, full), row_group_size=ROW_GROUP_SIZE)
        rest = buffered.slice(full)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> int:
        """Write the last rows, move the file into place and return the number of rows."""
        try:
            self._flush(final=True)
            self._writer.close()
            os.replace(self._temporary, self.path)
        except BaseException:
            self.abort()
            raise
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file; ``path`` keeps its previous content."""
        try:
            self._writer.close()
        finally:
            Path(self._temporary).unlink(missing_ok=True)
