"""Verdict formats: the requested JSON schema, and the strict parsers of replies.

Only the judge's final verdict counts. A reply that is a JSON object
(structured output) is parsed as JSON. Any other reply goes to the fallback
parser, which reads the last non-empty line only, so a rating that the judge
quotes from the judged response earlier in its reply is ignored. Nothing is clamped, repaired or
defaulted: a reply that breaks the format is a failure with a status.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from mmpo.judge.rubrics import ASPECTS, PAIRWISE, Rubric

OK = "ok"
UNPARSEABLE = "unparseable"
OUT_OF_RANGE = "out_of_range"
TRUNCATED = "truncated"
FILTERED = "content_filter"

NUMBER = r"-?\d+(?:\.\d+)?"
RATING = re.compile(rf"\[\[\s*({NUMBER})\s*\]\]")
CHOICE = re.compile(r"\[\[\s*([ABC])\s*\]\]")
PREFERENCE_OF_CHOICE = {"A": 1.0, "B": 0.0, "C": 0.5}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Outcome of parsing one reply.

    Attributes:
        status: ``ok`` or a failure code (``unparseable``, ``out_of_range``,
            ``truncated``, ``content_filter``).
        score: the rating (the mean of the aspect ratings for an aspects
            rubric); for a pairwise rubric, the probability that A is better
            (1, 0, or 0.5 for a tie). None unless ``status`` is ``ok``.
        aspects: aspect name -> rating, for an aspects rubric.
        detail: why the reply failed, naming the offending value.
    """

    status: str
    score: float | None = None
    aspects: tuple[tuple[str, float], ...] = ()
    detail: str = ""


def response_format(rubric: Rubric) -> dict[str, Any]:
    """Return the ``response_format`` argument that requests a JSON verdict of ``rubric``."""
    text = {"type": "string"}
    if rubric.kind == PAIRWISE:
        properties = {"explanation": text, "verdict": {"type": "string", "enum": ["A", "B", "C"]}}
    elif rubric.kind == ASPECTS:
        aspect = {
            "type": "object",
            "properties": {"rationale": text, "rating": {"type": "number"}},
            "required": ["rationale", "rating"],
            "additionalProperties": False,
        }
        properties = {name: aspect for name in rubric.aspects}
    else:
        properties = {"explanation": text, "rating": {"type": "number"}}
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "json_schema",
        "json_schema": {"name": f"{rubric.name}_verdict", "strict": True, "schema": schema},
    }


def parse_reply(rubric: Rubric, text: str | None, finish_reason: str | None) -> Verdict:
    """Parse one reply of the judge into a verdict; a bad reply becomes a failure verdict."""
    if finish_reason == "length":
        return Verdict(TRUNCATED, detail="the reply was cut off at max_tokens; raise judge.max_tokens")
    if finish_reason == "content_filter":
        return Verdict(FILTERED, detail="the server withheld the reply (content filter)")
    if text is None or not text.strip():
        return Verdict(UNPARSEABLE, detail="the reply is empty")

    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            return Verdict(UNPARSEABLE, detail=f"the reply starts like JSON but is invalid: {error}")
        return _parse_json(rubric, data)
    return _parse_text(rubric, stripped.splitlines()[-1])


def _parse_json(rubric: Rubric, data: Any) -> Verdict:
    if not isinstance(data, dict):
        return Verdict(UNPARSEABLE, detail=f"expected a JSON object, got {type(data).__name__}")
    if rubric.kind == PAIRWISE:
        choice = data.get("verdict")
        if choice not in PREFERENCE_OF_CHOICE:
            return Verdict(UNPARSEABLE, detail=f"verdict {choice!r} is not one of A, B, C")
        return Verdict(OK, score=PREFERENCE_OF_CHOICE[choice])
    if rubric.kind == ASPECTS:
        ratings = {}
        for name in rubric.aspects:
            entry = data.get(name)
            ratings[name] = entry.get("rating") if isinstance(entry, dict) else None
        return _check_aspects(rubric, ratings)
    return _check_rating(rubric, data.get("rating"))


def _parse_text(rubric: Rubric, last_line: str) -> Verdict:
    if rubric.kind == PAIRWISE:
        choices = CHOICE.findall(last_line)
        if len(choices) != 1:
            return Verdict(
                UNPARSEABLE, detail=f"expected one [[A]], [[B]] or [[C]] in the last line {last_line!r}"
            )
        return Verdict(OK, score=PREFERENCE_OF_CHOICE[choices[0]])
    if rubric.kind == ASPECTS:
        ratings = {}
        for name in rubric.aspects:
            found = re.findall(rf"\b{re.escape(name)}\s*=\s*\[\[\s*({NUMBER})\s*\]\]", last_line)
            ratings[name] = float(found[0]) if len(found) == 1 else None
        return _check_aspects(rubric, ratings)
    ratings = RATING.findall(last_line)
    if len(ratings) != 1:
        return Verdict(UNPARSEABLE, detail=f"expected one [[rating]] in the last line {last_line!r}")
    return _check_rating(rubric, float(ratings[0]))


def _check_rating(rubric: Rubric, rating: Any) -> Verdict:
    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not math.isfinite(rating):
        return Verdict(UNPARSEABLE, detail=f"rating {rating!r} is not a finite number")
    if not rubric.min_score <= rating <= rubric.max_score:
        return Verdict(
            OUT_OF_RANGE, detail=f"rating {rating!r} is outside [{rubric.min_score}, {rubric.max_score}]"
        )
    return Verdict(OK, score=float(rating))


def _check_aspects(rubric: Rubric, ratings: dict[str, Any]) -> Verdict:
    checked = {}
    for name, rating in ratings.items():
        verdict = _check_rating(rubric, rating)
        if verdict.status != OK:
            return dataclasses.replace(verdict, detail=f"aspect {name}: {verdict.detail}")
        checked[name] = verdict.score
    mean = math.fsum(checked.values()) / len(checked)
    return Verdict(OK, score=mean, aspects=tuple(checked.items()))
