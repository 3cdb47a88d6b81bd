"""Shared pieces of the source adapters: reading files, fields, prompts, scores."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from mmpo.errors import InputError
from mmpo.params import IngestParams

MISSING = object()
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclasses.dataclass(frozen=True)
class Rejected:
    """One input unit sent to the quarantine.

    Attributes:
        origin: ``file:line`` (1-based) or ``dataset[split]:row``.
        field: the input field at fault, or ``""`` for the whole row.
        reason: short code counted in the metrics, e.g. ``missing_score``.
        detail: a sentence naming the value and the fix.
        record: the input row, kept whole so nothing is lost.
    """

    origin: str
    field: str
    reason: str
    detail: str
    record: Any


class ReadCounter:
    """Counts input units per kind (``rows``, ``judgments``, ...) for the metrics.

    ``merged`` counts input units folded into another output row (duplicate
    responses of one prompt, repeated battles) and ``notes`` counts events
    worth a metric that change no row count (re-parsed ratings, conflicts).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.merged = 0
        self.notes: Counter[str] = Counter()

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] += count


def iter_file_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(origin, record)`` for each row of a JSONL, JSON, CSV or Parquet file.

    Lines of a JSONL file that are not valid JSON are yielded as a ``Rejected``
    record, so the caller can quarantine them. Blank lines are skipped but
    still counted in the line numbers. Rows are parsed one by one, never
    with a schema inferred from the first rows, so rows with extra keys or
    other value types reach the adapter as they are.

    Raises:
        InputError: the file is not UTF-8 text, not a valid JSON array, CSV
            or Parquet file, or has an unsupported suffix.
    """
    try:
        yield from _iter_file_records(path)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); re-encode it as UTF-8"
        ) from error
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not a valid JSON array ({error.msg} at line {error.lineno}); fix the file or "
            "write one JSON object per line with the .jsonl suffix"
        ) from error
    except (csv.Error, pa.ArrowException) as error:
        raise InputError(
            f"{path}: cannot be read as {path.suffix} ({error}); check the file's format"
        ) from error


def _iter_file_records(path: Path) -> Iterator[tuple[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or (suffix == ".json" and not _is_json_array(path)):
        yield from _iter_jsonl(path)
    elif suffix == ".json":
        with open(path, encoding="utf-8") as stream:
            rows = json.load(stream)
        for index, row in enumerate(rows, start=1):
            yield f"{path}:{index}", row
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as stream:
            for index, row in enumerate(csv.DictReader(stream), start=2):
                yield f"{path}:{index}", row
    elif suffix == ".parquet":
        row_number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                row_number += 1
                yield f"{path}:{row_number}", row
    else:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(FILE_SUFFIXES)}")


def _is_json_array(path: Path) -> bool:
    with open(path, encoding="utf-8") as stream:
        head = stream.read(4096).lstrip()
    return head.startswith("[")


def _iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            try:
                yield origin, json.loads(line)
            except json.JSONDecodeError as error:
                detail = f"line is not valid JSON ({error.msg} at column {error.colno}); fix or remove it"
                yield origin, Rejected(origin, "", "invalid_json", detail, line.rstrip("\n"))


def iter_input_records(params: IngestParams) -> Iterator[tuple[str, Any]]:
    """Yield ``(origin, record)`` from ``params.hf_dataset`` or from ``params.path``.

    A folder yields its supported files in sorted order.

    Raises:
        InputError: the path does not exist or contains no supported file.
    """
    if params.hf_dataset is not None:
        yield from _iter_hf_dataset(params)
        return
    path = Path(params.path)
    if not path.exists():
        raise InputError(f"{path}: input not found; set ingest.path to a file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FILE_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no {', '.join(FILE_SUFFIXES)} file in this folder")
    else:
        files = [path]
    for file in files:
        yield from iter_file_records(file)


def not_an_object(origin: str, record: Any) -> Rejected:
    """Return the quarantine entry of an input row that is not a JSON object or table row."""
    return Rejected(origin, "", "invalid_row", "the row is not an object", record)


def convert_objects(
    params: IngestParams, counter: ReadCounter, unit: str, convert: Callable[[str, dict], Any]
) -> Iterator[Any]:
    """Yield ``convert(origin, record)`` for each input object, and ``Rejected`` for every other row.

    Each input row counts once under ``unit``. Rows that failed to parse
    pass through as their ``Rejected``, and rows that are not objects are
    quarantined as ``invalid_row``.
    """
    for origin, record in iter_input_records(params):
        counter.add(unit)
        if isinstance(record, Rejected):
            yield record
        elif not isinstance(record, dict):
            yield not_an_object(origin, record)
        else:
            yield convert(origin, record)


def _iter_hf_dataset(params: IngestParams) -> Iterator[tuple[str, Any]]:
    import datasets  # imported here: loading it costs about a second

    dataset = datasets.load_dataset(params.hf_dataset, params.hf_config, split=params.hf_split)
    for index, row in enumerate(dataset, start=1):
        yield f"{params.hf_dataset}[{params.hf_split}]:{index}", row


def get_field(record: Any, dotted: str) -> Any:
    """Return ``record[a][b]`` for ``dotted == "a.b"``, or ``MISSING`` when absent."""
    node = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def parse_score(value: Any) -> tuple[float | None, str, str]:
    """Convert a score to float; return ``(score, reason, detail)``.

    The score is None when the value is missing, null, not numeric, or not
    finite; reason is then one of ``missing_score``, ``null_score``,
    ``non_numeric_score``, ``non_finite_score``. Numeric strings such as "7.5"
    (CSV cells) are accepted.
    """
    if value is MISSING:
        return None, "missing_score", "the score field is absent"
    if value is None or value == "":
        return None, "null_score", "the score is null or empty"
    if isinstance(value, bool):
        return None, "non_numeric_score", f"the score is a boolean ({value!r})"
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None, "non_numeric_score", f"the score {value!r} is not a number"
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None, "non_numeric_score", f"the score {value!r} is not a number"
    if not math.isfinite(number):
        return None, "non_finite_score", f"the score {value!r} is not finite"
    return number, "", ""


def to_messages(value: Any, default_role: str) -> list[dict[str, str]] | None:
    """Return a message list from a string or a list of ``{role, content}`` dicts.

    A string becomes one message with ``default_role``. Returns None when the
    value has neither form, so the caller can quarantine it with a reason.
    """
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for item in value:
        if not isinstance(item, dict):
            return None
        role, content = item.get("role"), item.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            return None
        messages.append({"role": role, "content": content})
    return messages


def response_row(
    *,
    prompt_id: str,
    group_id: str,
    prompt: list[dict[str, str]],
    response: str,
    score: float,
    judge: str,
    source: str,
    model: str | None,
    origin: str,
    aspects: list[dict[str, Any]] | None = None,
    score_std: float | None = None,
    num_scores: int = 1,
) -> dict[str, Any]:
    """Build one row of the ``responses`` table."""
    return {
        "prompt_id": prompt_id,
        "group_id": group_id,
        "prompt": prompt,
        "response": response,
        "score": score,
        "score_std": score_std,
        "num_scores": num_scores if score is not None else 0,
        "aspects": aspects or [],
        "judge": judge,
        "source": source,
        "model": model,
        "origin": origin,
    }
