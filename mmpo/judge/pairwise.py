"""Pairwise judging: each pair of responses to a prompt compared in both orders.

Showing a pair as (A, B) and as (B, A) cancels the judge's position bias: the
probability that the pair's first response is better is the mean over the
valid verdicts of both orders. When the two orders point in opposite
directions the pair is a failure ``order_disagreement`` unless ties are
allowed, in which case the mean (0.5 for hard verdicts) is kept.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from mmpo import tables
from mmpo.judge.prompts import build_messages
from mmpo.judge.rubrics import Rubric
from mmpo.judge.scores import PlannedCall, plan_call
from mmpo.judge.verdicts import OK
from mmpo.params import JudgeParams

ORDERS = ("AB", "BA")


def response_pairs(responses: pa.Table, rows: np.ndarray) -> list[tuple[int, int]]:
    """Return all pairs (i, j), i < j, of ``rows`` that share a ``group_id``, in row order."""
    groups: dict[str, list[int]] = defaultdict(list)
    group_ids = responses.column("group_id").to_pylist()
    for row in sorted(rows.tolist()):
        groups[group_ids[row]].append(row)
    return [(a, b) for members in groups.values() for k, a in enumerate(members) for b in members[k + 1 :]]


def plan_pairwise_calls(
    responses: pa.Table, pairs: list[tuple[int, int]], params: JudgeParams, rubric: Rubric
) -> list[PlannedCall]:
    """Return the calls for ``pairs``: both orders x models x samples, item = pair index."""
    columns = {
        name: responses.column(name).to_pylist() for name in ("prompt_id", "prompt", "response", "origin")
    }
    calls = []
    for item, (first, second) in enumerate(pairs):
        for order, (a, b) in zip(ORDERS, ((first, second), (second, first)), strict=True):
            messages = build_messages(
                rubric, columns["prompt"][first], [columns["response"][a], columns["response"][b]]
            )
            where = {
                "item": item,
                "prompt_id": columns["prompt_id"][first],
                "origin": f"{columns['origin'][a]} | {columns['origin'][b]}",
                "order": order,
            }
            for model in params.models:
                for sample in range(params.samples):
                    calls.append(plan_call(params, rubric, messages, model, sample, **where))
    return calls


def pair_preferences(
    calls: pa.Table, count: int, allow_ties: bool
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Fold pairwise calls into the probability that each pair's first response is better.

    Returns:
        p_first: float64 (count,), NaN for a pair without a usable result.
        votes: int64 (count,), valid verdicts averaged into p_first.
        reasons: per pair, None when usable, else ``missing_order`` (an
            order without a valid verdict) or ``order_disagreement``.
    """
    totals = np.zeros((count, 2))
    votes = np.zeros((count, 2), dtype=np.int64)
    for item, order, status, score in zip(
        *(calls.column(c).to_pylist() for c in ("item", "order", "status", "score")), strict=True
    ):
        if status == OK:
            column = ORDERS.index(order)
            totals[item, column] += score if order == "AB" else 1.0 - score
            votes[item, column] += 1

    with np.errstate(invalid="ignore", divide="ignore"):
        per_order = totals / votes
    p_first = totals.sum(axis=1) / np.maximum(votes.sum(axis=1), 1)
    missing = (votes == 0).any(axis=1)
    disagree = ~missing & ((per_order[:, 0] - 0.5) * (per_order[:, 1] - 0.5) < 0)
    reasons: list[str | None] = [None] * count
    for item in np.flatnonzero(disagree & (not allow_ties)).tolist():
        reasons[item] = "order_disagreement"
    for item in np.flatnonzero(missing).tolist():
        reasons[item] = "missing_order"
    unusable = np.array([reason is not None for reason in reasons], dtype=bool)
    p_first[unusable] = np.nan
    return p_first, votes.sum(axis=1), reasons


def comparison_rows(
    responses: pa.Table, pairs: list[tuple[int, int]], p_first: np.ndarray, votes: np.ndarray, judge: str
) -> pa.Table:
    """Return one ``COMPARISONS`` row per pair with a finite ``p_first``.

    ``response_a`` is the pair's first response and ``p_a`` is ``p_first``.
    """
    usable = [k for k in range(len(pairs)) if np.isfinite(p_first[k])]
    first = pa.array([pairs[k][0] for k in usable], pa.int64())
    second = pa.array([pairs[k][1] for k in usable], pa.int64())
    a, b = responses.take(first), responses.take(second)
    origins = [
        f"{x} | {y}"
        for x, y in zip(a.column("origin").to_pylist(), b.column("origin").to_pylist(), strict=True)
    ]
    return pa.table(
        {
            "prompt_id": a.column("prompt_id"),
            "prompt": a.column("prompt"),
            "response_a": a.column("response"),
            "response_b": b.column("response"),
            "p_a": pa.array(p_first[usable], pa.float64()),
            "votes": pa.array(votes[usable].astype(np.float64), pa.float64()),
            "judge": pa.array([judge] * len(usable), pa.string()),
            "source": a.column("source"),
            "model_a": a.column("model"),
            "model_b": b.column("model"),
            "origin": pa.array(origins, pa.string()),
        },
        schema=tables.COMPARISONS,
    )
