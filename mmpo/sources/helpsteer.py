"""Adapter for HelpSteer / HelpSteer2 rows: one response rated on five attributes.

Row layout: ``prompt``, ``response`` and ``helpfulness``, ``correctness``,
``coherence``, ``complexity``, ``verbosity`` (integers 0-4). The rows have no
prompt id, so responses are grouped by the exact prompt text; the prompt id
is the SHA-256 of that text. Rows of one prompt are expected to be
consecutive, as in the published files; duplicate responses are merged only
within such a run.

The score is one attribute (``ingest.helpsteer.attribute``) or the weighted
mean of several (``ingest.helpsteer.weights``); every valid attribute is kept
in ``aspects``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np

from mmpo.params import HELPSTEER_ATTRIBUTES, IngestParams
from mmpo.sources.base import MISSING, ReadCounter, Rejected, iter_input_records, not_an_object, response_row
from mmpo.sources.checks import merge_duplicates, scored, text_problem
from mmpo.sources.grouping import consecutive_groups

SOURCE = "helpsteer"
UNIT = "rows"
SCORE_RANGE = (0.0, 4.0)


def read_helpsteer(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one response row or ``Rejected`` per input row, less merged duplicates."""
    weights = params.helpsteer.weights or {params.helpsteer.attribute: 1.0}
    score_range = params.score_range or SCORE_RANGE
    judge = params.judge or "human"  # HelpSteer ratings come from human annotators

    def prompt_key(record: Any) -> Any:
        return record.get("prompt") if isinstance(record, dict) else None

    for group in consecutive_groups(iter_input_records(params), prompt_key):
        rows = []
        for origin, record in group:
            counter.add(UNIT)
            result = _convert(origin, record, weights, score_range, params.max_text_length, judge)
            if isinstance(result, Rejected):
                yield result
            else:
                rows.append(result)
        rows, merged = merge_duplicates(rows)
        counter.merged += merged
        yield from rows


def _convert(origin, record, weights, score_range, max_length, judge) -> dict | Rejected:
    if isinstance(record, Rejected):
        return record
    if not isinstance(record, dict):
        return not_an_object(origin, record)
    for field in ("prompt", "response"):
        problem = text_problem(record.get(field, MISSING), max_length)
        if problem is not None:
            return Rejected(origin, field, problem[0], f"{field}: {problem[1]}", record)

    aspects = {}
    for name in HELPSTEER_ATTRIBUTES:
        value, reason, detail = scored(record.get(name, MISSING), score_range)
        if value is None and name in weights and weights[name] > 0:
            return Rejected(origin, name, reason, f"{detail} in attribute {name!r}", record)
        if value is not None:
            aspects[name] = value

    used = [name for name in sorted(weights) if weights[name] > 0]
    values = np.array([aspects[name] for name in used], dtype=np.float64)
    scale = np.array([weights[name] for name in used], dtype=np.float64)
    prompt_id = hashlib.sha256(record["prompt"].encode("utf-8")).hexdigest()[:32]
    return response_row(
        prompt_id=prompt_id,
        group_id=prompt_id,
        prompt=[{"role": "user", "content": record["prompt"]}],
        response=record["response"],
        score=float((values * scale).sum() / scale.sum()),
        judge=judge,
        source=SOURCE,
        model=None,
        origin=origin,
        aspects=[{"name": name, "score": aspects[name]} for name in HELPSTEER_ATTRIBUTES if name in aspects],
    )
