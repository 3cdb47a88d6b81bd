"""Adapter for PKU-SafeRLHF rows: two responses with a helpfulness and a safety label.

Row layout: ``prompt``, ``response_0``, ``response_1``, ``response_0_source``,
``response_1_source``, ``better_response_id`` and ``safer_response_id``
(0 or 1). ``ingest.pku_saferlhf.preference`` picks the label; the two labels
disagree on about a quarter of the published rows. Response 0 is side A, so
p_a is 1 when the chosen id is 0 and 0 when it is 1.
"""

from __future__ import annotations

from typing import Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import MISSING, ReadCounter, Rejected, convert_objects
from mmpo.sources.pairwise import comparison_row

SOURCE = "pku_saferlhf"
UNIT = "rows"


def read_pku_saferlhf(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row or ``Rejected`` per input row."""
    label = f"{params.pku_saferlhf.preference}_response_id"
    judge = params.judge or "human"
    yield from convert_objects(
        params,
        counter,
        UNIT,
        lambda origin, record: _convert(origin, record, label, judge, params.max_text_length),
    )


def _convert(origin: str, record: dict, label: str, judge: str, max_length: int) -> dict | Rejected:
    chosen = record.get(label, MISSING)
    if isinstance(chosen, bool) or chosen not in (0, 1):
        detail = f"{label} is {chosen!r}; expected 0 or 1"
        return Rejected(origin, label, "invalid_label", detail, record)

    def source_of(key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) else None

    prompt = record.get("prompt", MISSING)
    return comparison_row(
        origin,
        record,
        prompt=[{"role": "user", "content": prompt}],
        response_a=record.get("response_0", MISSING),
        response_b=record.get("response_1", MISSING),
        p_a=1.0 if chosen == 0 else 0.0,
        votes=1.0,
        judge=judge,
        source=SOURCE,
        model_a=source_of("response_0_source"),
        model_b=source_of("response_1_source"),
        max_length=max_length,
    )
