"""Atomic, deterministic file writing and input fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

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


def write_parquet_chunks(
    chunks: Iterable[pa.Table], schema: pa.Schema, path: str | Path, metadata: Mapping[str, Any]
) -> int:
    """Write tables of ``schema`` one after another to one Parquet file, atomically; return the rows.

    Only one chunk is in memory at a time. zstd, the row-group size and the
    sorted JSON metadata are those of ``write_parquet``, so equal chunks and
    metadata give byte-identical files.
    """
    encoded = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode("utf-8")
    schema = schema.with_metadata({METADATA_KEY: encoded})
    rows = 0

    def write(temporary: str) -> None:
        nonlocal rows
        with pq.ParquetWriter(temporary, schema, compression="zstd", write_statistics=True) as writer:
            for chunk in chunks:
                writer.write_table(
                    chunk.replace_schema_metadata(schema.metadata), row_group_size=ROW_GROUP_SIZE
                )
                rows += chunk.num_rows

    _replace_atomically(Path(path), write)
    return rows
