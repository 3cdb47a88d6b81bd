"""Row checks shared by the adapters: text fields, score ranges, duplicate responses."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmpo.sources.base import parse_score
from mmpo.text import canonical_text


def text_problem(value: Any, max_length: int) -> tuple[str, str] | None:
    """Return ``(reason, detail)`` when ``value`` cannot be a prompt or response text, else None.

    Reasons: ``non_text`` (not a string, e.g. a JSON ``true``), ``empty_text``
    (empty or whitespace only), ``text_too_long`` (over ``max_length`` characters).
    """
    if not isinstance(value, str):
        return "non_text", f"expected text, got {type(value).__name__} {str(value)[:40]!r}"
    if not value or value.isspace():
        return "empty_text", "the text is empty or whitespace only"
    if len(value) > max_length:
        return (
            "text_too_long",
            f"the text has {len(value)} characters, over ingest.max_text_length={max_length}",
        )
    return None


def messages_problem(messages: list[dict[str, str]], max_length: int) -> tuple[str, str] | None:
    """Return the first ``text_problem`` among message contents, or None."""
    for message in messages:
        problem = text_problem(message["content"], max_length)
        if problem is not None:
            return problem
    return None


def scored(value: Any, score_range: tuple[float, float]) -> tuple[float | None, str, str]:
    """Parse a score like ``parse_score`` and also reject one outside ``score_range``.

    Returns ``(score, reason, detail)``; reason ``score_out_of_range`` names
    the range. Scores are never clamped.
    """
    score, reason, detail = parse_score(value)
    if score is None:
        return score, reason, detail
    low, high = score_range
    if not low <= score <= high:
        detail = f"the score {value!r} is outside [{low:g}, {high:g}]; fix it or set ingest.score_range"
        return None, "score_out_of_range", detail
    return score, "", ""


def merge_duplicates(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Merge response rows of one group whose texts are equal after normalisation.

    The merged row keeps the first row's fields, its ``score`` becomes the
    mean of all individual scores, ``score_std`` their population standard
    deviation and ``num_scores`` their count (float64 maths). Rows must be
    scored (``score`` not None).

    Returns:
        The rows in first-seen order and the number of rows merged away.
    """
    order: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        order.setdefault((row["group_id"], canonical_text(row["response"])), []).append(row)
    merged = []
    for same in order.values():
        if len(same) == 1:
            merged.append(same[0])
            continue
        counts = np.array([r["num_scores"] for r in same], dtype=np.float64)
        means = np.array([r["score"] for r in same], dtype=np.float64)
        stds = np.array([r["score_std"] or 0.0 for r in same], dtype=np.float64)
        total = counts.sum()
        mean = float((counts * means).sum() / total)
        # Pooled population variance: within-row spread plus spread of the row means.
        variance = float((counts * (stds**2 + (means - mean) ** 2)).sum() / total)
        merged.append({**same[0], "score": mean, "score_std": variance**0.5, "num_scores": int(total)})
    return merged, len(rows) - len(merged)
