"""Ingest: run a source adapter and write the ``responses`` and quarantine tables."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from mmpo import __version__, tables
from mmpo.errors import InputError
from mmpo.files import ParquetChunkWriter, fingerprint
from mmpo.params import IngestParams, params_to_dict
from mmpo.sources import ADAPTERS, INPUT_UNITS, ReadCounter, Rejected

logger = logging.getLogger(__name__)

BATCH_ROWS = 2048
COMPARISONS_FILE = "comparisons.parquet"


class _BatchedParquet:
    """Collect rows of one schema and hand them to a ``ParquetChunkWriter`` ``BATCH_ROWS`` at a time."""

    def __init__(self, path: Path, schema: pa.Schema, metadata: dict[str, Any]) -> None:
        self.writer = ParquetChunkWriter(path, schema, metadata)
        self.schema = schema
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            # Column by column is about 3x faster than Table.from_pylist on these nested rows.
            columns = [pa.array([row[f.name] for row in self.rows], type=f.type) for f in self.schema]
            self.writer.write(pa.Table.from_arrays(columns, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


def _quarantine_row(source: str, rejected: Rejected) -> dict[str, str]:
    record = rejected.record
    if not isinstance(record, str):
        record = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)
    return {
        "source": source,
        "origin": rejected.origin,
        "field": rejected.field,
        "reason": rejected.reason,
        "detail": rejected.detail,
        "record": record,
    }


def _accounting(source: str, counter: ReadCounter, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """Check input units = output rows + quarantined + merged; None for sources without the check."""
    unit = INPUT_UNITS.get(source)
    if unit is None:
        return None
    accounting = {
        "unit": unit,
        "input": counter.counts[unit],
        "output": metrics["responses"] + metrics["comparisons"],
        "quarantined": metrics["quarantined"],
        "merged": counter.merged,
    }
    accounting["balanced"] = (
        accounting["input"] == accounting["output"] + accounting["quarantined"] + accounting["merged"]
    )
    if not accounting["balanced"]:
        logger.error("ingest: input %s do not add up: %s", unit, accounting)
    return accounting


def run_ingest(
    params: IngestParams, responses_path: Path, quarantine_path: Path, comparisons_path: Path | None = None
) -> dict[str, Any]:
    """Read the input named by ``params`` and write the tables atomically.

    Adapters yield response rows, comparison rows (pairwise judgments, with a
    ``response_a`` key) and ``Rejected`` rows. The comparisons table is written
    next to the responses table unless ``comparisons_path`` is given.

    Returns:
        metrics: input units read by kind, responses and comparisons written,
        quarantined rows in total and by reason, merged duplicates, counted
        notes (such as re-parsed ratings) and the ``accounting`` check.

    Raises:
        mmpo.sources.base.InputError: the input cannot be read at all.
    """
    input_name = params.hf_dataset or params.path
    if params.hf_dataset is None and not Path(params.path).exists():
        raise InputError(f"{params.path}: input not found; set ingest.path to a file or folder")
    logger.info("ingest: source=%s input=%s", params.source, input_name)
    metadata = {
        "stage": "ingest",
        "params": params_to_dict(params),
        "input": input_name,
        "input_fingerprint": None if params.hf_dataset else fingerprint(params.path),
        "mmpo_version": __version__,
    }
    responses = _BatchedParquet(Path(responses_path), tables.RESPONSES, metadata)
    quarantine = _BatchedParquet(Path(quarantine_path), tables.QUARANTINE, metadata)
    if comparisons_path is None:
        comparisons_path = Path(responses_path).with_name(COMPARISONS_FILE)
    comparisons = _BatchedParquet(Path(comparisons_path), tables.COMPARISONS, metadata)
    writers = (responses, quarantine, comparisons)
    counter, reasons = ReadCounter(), Counter()
    try:
        for item in tqdm(ADAPTERS[params.source](params, counter), desc="ingest", unit="row"):
            if isinstance(item, Rejected):
                reasons[item.reason] += 1
                quarantine.append(_quarantine_row(params.source, item))
            elif "response_a" in item:
                comparisons.append(item)
            else:
                responses.append(item)
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    for writer in writers:
        writer.close()

    metrics = {
        "read": dict(sorted(counter.counts.items())),
        "responses": responses.count,
        "comparisons": comparisons.count,
        "quarantined": quarantine.count,
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "merged_duplicates": counter.merged,
        "notes": dict(sorted(counter.notes.items())),
    }
    metrics["accounting"] = _accounting(params.source, counter, metrics)
    for reason, count in sorted(reasons.items()):
        logger.warning("ingest: %d row(s) quarantined as %s (see %s)", count, reason, quarantine_path)
    logger.info(
        "ingest: %d responses and %d comparisons written, %d rows quarantined",
        responses.count,
        comparisons.count,
        quarantine.count,
    )
    return metrics
