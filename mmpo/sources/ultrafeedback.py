"""Adapter for raw UltraFeedback rows (the ``openbmb/UltraFeedback`` layout).

One row per prompt::

    instruction    the prompt text
    completions    list of {model, response, annotations, overall_score,
                   fine-grained_score, ...}
    annotations    aspect -> {Rating: "1".."5" or "N/A", Rationale, ...} for
                   instruction_following, honesty, truthfulness, helpfulness
                   (a one-element list of that object is accepted too)

Each completion becomes one response. ``ingest.ultrafeedback.score`` picks
the score: ``overall_score`` (1-10), or the plain or weighted mean of the
aspect ratings (1-5). The aspect ratings that are numbers go to ``aspects``.
A completion whose overall score is 9 or more while no aspect rating is
above 2 is counted as ``overall_aspect_conflicts`` with a warning: the
published data contains such rows.

The per-completion ``custom_system_prompt`` steered generation but is not
part of the user's conversation, so the prompt is the instruction alone.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import numpy as np

from mmpo.params import ULTRAFEEDBACK_ASPECTS, IngestParams
from mmpo.sources.base import MISSING, ReadCounter, Rejected, iter_input_records, response_row
from mmpo.sources.checks import merge_duplicates, scored, text_problem
from mmpo.text import prompt_hash

logger = logging.getLogger(__name__)

SOURCE = "ultrafeedback"
UNIT = "completions"
OVERALL_RANGE = (1.0, 10.0)
ASPECT_RANGE = (1.0, 5.0)
CONFLICT_OVERALL = 9.0  # overall scores at or above this ...
CONFLICT_ASPECT = 2.0  # ... with every aspect rating at or below this are conflicts


def read_ultrafeedback(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one response row or ``Rejected`` per completion, less merged duplicates.

    A row that is not an object or has no ``completions`` list counts as one
    completion and is rejected whole.
    """
    judge = params.judge or "gpt-4"  # the published ratings are GPT-4 annotations
    for origin, record in iter_input_records(params):
        counter.add("rows")
        completions = record.get("completions") if isinstance(record, dict) else None
        if isinstance(record, Rejected) or not isinstance(completions, list):
            counter.add(UNIT)
            detail = "a row needs an instruction and a completions list"
            yield (
                record
                if isinstance(record, Rejected)
                else Rejected(origin, "completions", "invalid_row", detail, record)
            )
            continue

        rows = []
        instruction = record.get("instruction")
        # Hashed once per row: every completion of the row shares the prompt.
        prompt_id = (
            prompt_hash([{"role": "user", "content": instruction}]) if isinstance(instruction, str) else ""
        )
        for index, completion in enumerate(completions):
            counter.add(UNIT)
            result = _convert(f"{origin}#{index}", record, completion, params, counter, prompt_id)
            if isinstance(result, Rejected):
                yield result
            else:
                result["judge"] = judge
                rows.append(result)
        rows, merged = merge_duplicates(rows)
        counter.merged += merged
        yield from rows
    _warn_conflicts(counter)


def _warn_conflicts(counter: ReadCounter) -> None:
    conflicts = counter.notes["overall_aspect_conflicts"]
    if conflicts:
        logger.warning(
            "ultrafeedback: %d completion(s) have overall_score >= %g but no aspect rating above %g; "
            "consider ingest.ultrafeedback.score: aspects_mean",
            conflicts,
            CONFLICT_OVERALL,
            CONFLICT_ASPECT,
        )


def _aspect_rating(annotations: Any, aspect: str) -> Any:
    value = annotations.get(aspect, MISSING) if isinstance(annotations, dict) else MISSING
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.get("Rating", MISSING) if isinstance(value, dict) else MISSING


def _convert(
    origin: str, record: dict, completion: Any, params: IngestParams, counter: ReadCounter, prompt_id: str
) -> dict | Rejected:
    raw_row = {"instruction": record.get("instruction"), "completion": completion}
    if not isinstance(completion, dict):
        return Rejected(origin, "completions", "invalid_row", "the completion is not an object", raw_row)
    for field, value in (
        ("instruction", record.get("instruction", MISSING)),
        ("response", completion.get("response", MISSING)),
    ):
        problem = text_problem(value, params.max_text_length)
        if problem is not None:
            return Rejected(origin, field, problem[0], f"{field}: {problem[1]}", raw_row)

    options = params.ultrafeedback
    by_aspects = options.score != "overall"
    weights = (
        options.weights if options.score == "aspects_weighted" else dict.fromkeys(ULTRAFEEDBACK_ASPECTS, 1.0)
    )
    rating_range = (params.score_range if by_aspects else None) or ASPECT_RANGE
    aspects = {}
    for aspect in ULTRAFEEDBACK_ASPECTS:
        rating, reason, detail = scored(_aspect_rating(completion.get("annotations"), aspect), rating_range)
        if rating is None and by_aspects and weights.get(aspect, 0.0) > 0:
            return Rejected(
                origin,
                f"annotations.{aspect}.Rating",
                reason,
                f"{detail} in aspect {aspect!r}",
                raw_row,
            )
        if rating is not None:
            aspects[aspect] = rating

    overall, reason, detail = scored(
        completion.get("overall_score", MISSING), params.score_range or OVERALL_RANGE
    )
    if overall is None and not by_aspects:
        return Rejected(origin, "overall_score", reason, f"{detail} in field 'overall_score'", raw_row)
    if (
        overall is not None
        and aspects
        and overall >= CONFLICT_OVERALL
        and max(aspects.values()) <= CONFLICT_ASPECT
    ):
        counter.notes["overall_aspect_conflicts"] += 1

    if by_aspects:
        used = [aspect for aspect in sorted(weights) if weights[aspect] > 0]
        scale = np.array([weights[aspect] for aspect in used], dtype=np.float64)
        values = np.array([aspects[aspect] for aspect in used], dtype=np.float64)
        score = float((values * scale).sum() / scale.sum())
    else:
        score = overall
    prompt = [{"role": "user", "content": record["instruction"]}]
    model = completion.get("model")
    return response_row(
        prompt_id=prompt_id,
        group_id=prompt_id,
        prompt=prompt,
        response=completion["response"],
        score=score,
        judge="",
        source=SOURCE,
        model=model if isinstance(model, str) else None,
        origin=origin,
        aspects=[{"name": name, "score": aspects[name]} for name in ULTRAFEEDBACK_ASPECTS if name in aspects],
    )
