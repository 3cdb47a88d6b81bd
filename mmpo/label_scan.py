"""The label stage's first pass: the per-response facts that decide pairs, read batch by batch.

Pairs, margins, gamma and splits need every response's score and group,
but not its text. ``scan_responses`` reads the responses table one record
batch at a time. It keeps the small columns, a 64-bit fingerprint of each
response text and one canonical prompt string per prompt_id. Memory
therefore grows with the number of rows, not with the length of the texts,
and the texts are read again only when the preference sets are written.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmpo import tables
from mmpo.errors import InputError
from mmpo.parallel import ordered_map
from mmpo.text import canonical_prompts, text_fingerprints

logger = logging.getLogger(__name__)

BATCH_ROWS = 8192  # responses per record batch read from the input
LIGHT_COLUMNS = ("prompt_id", "group_id", "score", "score_std", "judge", "source", "origin")


@dataclasses.dataclass(frozen=True)
class ResponseScan:
    """Per-response facts that the label stage keeps, one row per scored response.

    Attributes:
        light: table of ``LIGHT_COLUMNS`` (R rows, scored responses only).
        rows: int64 (R,), each scored response's row number in the input file.
        fingerprints: uint64 (R,), ``text_fingerprints`` of each response text.
        key_codes: int64 (R,), index into ``key_texts`` of each row's split
            key: the canonical prompt string of its prompt_id, taken from the
            first row that carries the id.
        key_texts: object (D,), the distinct split keys.
        total: rows in the input file, scored or not.
        unscored: rows without a score, left out of every other field.
    """

    light: pa.Table
    rows: np.ndarray
    fingerprints: np.ndarray
    key_codes: np.ndarray
    key_texts: np.ndarray
    total: int
    unscored: int

    @property
    def prompt_keys(self) -> np.ndarray:
        """Object (R,): the split key of each row."""
        return self.key_texts[self.key_codes]


def check_schema(path: Path, schema: pa.Schema, stage: str, column_names) -> None:
    """Raise ``InputError`` when the file at ``path`` lacks a column of ``schema`` among ``column_names``."""
    found = pq.read_schema(path)
    missing = [name for name in column_names if found.get_field_index(name) < 0]
    if missing:
        raise InputError(
            f"{path}: column(s) {', '.join(missing)} are missing, so the label stage cannot read it; "
            f"write the file with the {stage} stage, which produces the {', '.join(schema.names)} columns"
        )


def read_batches(
    path: Path, columns: list[str], batch_rows: int | None = None, schema: pa.Schema = tables.RESPONSES
):
    """Yield tables of ``columns`` of the file at ``path``, cast to the types of ``schema``, in file order.

    ``batch_rows`` defaults to ``BATCH_ROWS``.
    """
    batch_rows = batch_rows or BATCH_ROWS
    target = tables.select_schema(schema, columns)
    # With pre-buffering, pyarrow 26 keeps every row group read so far until the file closes.
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns, use_threads=True):
            yield pa.Table.from_batches([batch]).select(columns).cast(target)


def scan_responses(path: Path) -> ResponseScan:
    """Read the responses table at ``path`` (``RESPONSES`` schema) batch by batch and keep what pairing needs.

    Raises:
        InputError: the file lacks a column of the responses schema.
    """
    check_schema(path, tables.RESPONSES, "ingest", tables.RESPONSES.names)
    batches = read_batches(path, [*LIGHT_COLUMNS, "prompt", "response"])
    parts = ordered_map(_scan_batch, batches)

    light, hashes, key_ids, key_texts, rows = [], [], [], [], []
    offset = kept = 0
    for part in parts:
        light.append(part.light)
        hashes.append(part.fingerprints)
        key_ids.append(part.key_ids)
        key_texts.append(part.key_texts)
        rows.append(part.rows + offset)
        offset += part.total
        kept += part.light.num_rows

    light_table = pa.concat_tables(light).combine_chunks() if light else _empty_light()
    all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    fingerprints = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    codes, texts = prompt_keys_of(light_table.column("prompt_id"), key_ids, key_texts)
    return ResponseScan(light_table, all_rows, fingerprints, codes, texts, offset, offset - kept)


@dataclasses.dataclass(frozen=True)
class _BatchScan:
    """Per-response facts of one batch, with row numbers counted from the batch's first row."""

    light: pa.Table
    rows: np.ndarray
    fingerprints: np.ndarray
    key_ids: pa.Array
    key_texts: pa.Array
    total: int


def _scan_batch(batch: pa.Table) -> _BatchScan:
    scored = pc.is_valid(batch.column("score"))
    rows = np.flatnonzero(scored.to_numpy(zero_copy_only=False))
    total = batch.num_rows
    if len(rows) < total:  # filtering copies every column, texts included
        batch = batch.filter(scored)

    first = first_rows(batch.column("prompt_id"))
    return _BatchScan(
        light=batch.select(list(LIGHT_COLUMNS)),
        rows=rows,
        fingerprints=text_fingerprints(batch.column("response")),
        key_ids=batch.column("prompt_id").take(first).combine_chunks(),
        key_texts=canonical_prompts(batch.column("prompt").take(first)),
        total=total,
    )


def _empty_light() -> pa.Table:
    return tables.select_schema(tables.RESPONSES, LIGHT_COLUMNS).empty_table()


def first_rows(prompt_ids: pa.ChunkedArray) -> pa.Array:
    """Return the row numbers of the first row of each distinct prompt id, in row order."""
    codes, _ = pd.factorize(prompt_ids.to_numpy(zero_copy_only=False))
    _, first = np.unique(codes, return_index=True)
    return pa.array(np.sort(first))


def prompt_keys_of(
    prompt_ids: pa.ChunkedArray, key_ids: list, key_texts: list
) -> tuple[np.ndarray, np.ndarray]:
    """Return the split key of each row as int64 codes (R,) into distinct key strings (D,).

    A row's key is the canonical prompt of the first row with its prompt_id.
    Arrow's ``index_in`` maps ids to positions, so no Python string is made
    per row, and prompt ids whose prompts read the same share one code.
    """
    if not key_ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    ids = pa.chunked_array(key_ids, pa.string()).combine_chunks()
    texts = pa.chunked_array(key_texts, pa.string()).combine_chunks()
    distinct = pc.unique(ids)
    position = pc.index_in(ids, value_set=distinct).to_numpy(zero_copy_only=False)
    _, first = np.unique(position, return_index=True)  # a batch boundary can repeat an id
    id_texts = texts.take(pa.array(first)).to_numpy(zero_copy_only=False)
    id_codes, distinct_texts = pd.factorize(id_texts)

    rows = pc.index_in(prompt_ids, value_set=distinct).to_numpy(zero_copy_only=False)
    return id_codes[rows].astype(np.int64), np.asarray(distinct_texts, dtype=object)


def texts_at(path: Path, rows: np.ndarray) -> dict[int, str]:
    """Return {file row: response text} for the file ``rows``, reading the file batch by batch."""
    found: dict[int, str] = {}
    requested = np.unique(np.asarray(rows, dtype=np.int64))
    start = 0
    for batch in read_batches(path, ["response"]):
        end = start + batch.num_rows
        in_batch = requested[(requested >= start) & (requested < end)]
        if len(in_batch):
            texts = batch.column("response").take(pa.array(in_batch - start)).to_pylist()
            found.update(zip(in_batch.tolist(), texts, strict=True))
        start = end
    return found
