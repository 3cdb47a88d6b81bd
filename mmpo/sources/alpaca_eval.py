"""Adapter for AlpacaEval annotation files (``annotations.json`` of a results folder).

Row layout: ``instruction``, ``output_1``, ``output_2``, ``generator_1``,
``generator_2``, ``annotator`` and ``preference``. The preference is 1 when
output_1 is preferred and 2 when output_2 is. A weighted annotator writes a
value in between: 1 + the judge's probability that output_2 is better. It
is 0 or null when the judge declared a draw or failed. Files store it as
int, float or a numeric string.

Output 1 is side A, so p_a = 2 - preference. A preference of exactly 1 or
2 counts as one vote; a value in between is a soft preference with null
votes. Rows with 0 or null go to the quarantine as ``undecided_preference``
because the files do not tell a draw from a failure.
"""

from __future__ import annotations

from typing import Any, Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import MISSING, ReadCounter, Rejected, convert_objects, parse_score
from mmpo.sources.pairwise import comparison_row

SOURCE = "alpaca_eval"
UNIT = "rows"


def read_alpaca_eval(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row or ``Rejected`` per annotation."""
    yield from convert_objects(params, counter, UNIT, lambda origin, record: _convert(origin, record, params))


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _convert(origin: str, record: dict, params: IngestParams) -> dict | Rejected:
    raw = record.get("preference", MISSING)
    preference, reason, detail = parse_score(raw)
    if preference is None and reason in ("missing_score", "null_score") or preference == 0.0:
        detail = f"preference {raw!r} marks a draw or a failed annotation; no side is preferred"
        return Rejected(origin, "preference", "undecided_preference", detail, record)
    if preference is None:
        return Rejected(origin, "preference", reason, f"{detail} in field 'preference'", record)
    if not 1.0 <= preference <= 2.0:
        detail = f"preference {raw!r} is outside [1, 2] (and not 0 for a draw)"
        return Rejected(origin, "preference", "score_out_of_range", detail, record)

    return comparison_row(
        origin,
        record,
        prompt=[{"role": "user", "content": record.get("instruction", MISSING)}],
        response_a=record.get("output_1", MISSING),
        response_b=record.get("output_2", MISSING),
        p_a=2.0 - preference,
        votes=1.0 if preference in (1.0, 2.0) else None,
        judge=_text_or_none(record.get("annotator")) or params.judge or "unknown",
        source=SOURCE,
        model_a=_text_or_none(record.get("generator_1")),
        model_b=_text_or_none(record.get("generator_2")),
        max_length=params.max_text_length,
    )
