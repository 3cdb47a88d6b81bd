"""Single-response judging: requests per response, and the calls folded into scores.

Each judged response gets one request per judge model and sample. Its new
``score`` is the mean of the valid verdicts, ``score_std`` their population
standard deviation (null for one verdict), ``num_scores`` their count, and
``aspects`` the per-aspect means.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmpo import tables
from mmpo.judge.cache import request_key
from mmpo.judge.client import CallOutcome, JudgeRequest
from mmpo.judge.prompts import build_messages
from mmpo.judge.rubrics import Rubric
from mmpo.judge.schemas import JUDGE_CALLS
from mmpo.judge.verdicts import OK, parse_reply
from mmpo.params import JudgeParams


@dataclasses.dataclass(frozen=True)
class PlannedCall:
    """One call of the plan: which item, model, sample and order it judges, and its request."""

    item: int
    prompt_id: str
    origin: str
    order: str | None
    model: str
    sample: int
    request: JudgeRequest


def sampling_settings(params: JudgeParams, sample: int) -> dict[str, Any]:
    """Return the sampling part of a cache key: temperature, max_tokens, seed and sample index."""
    return {
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "sample": sample,
    }


def plan_call(
    params: JudgeParams, rubric: Rubric, messages: list[dict[str, str]], model: str, sample: int, **where: Any
) -> PlannedCall:
    """Return the call that sends ``messages`` to ``model``, keyed for the cache."""
    key = request_key(params.base_url, model, rubric.version, messages, sampling_settings(params, sample))
    return PlannedCall(model=model, sample=sample, request=JudgeRequest(key, model, messages), **where)


def plan_single_calls(
    responses: pa.Table, rows: np.ndarray, params: JudgeParams, rubric: Rubric
) -> list[PlannedCall]:
    """Return the calls that judge ``rows`` (0-based indices into ``responses``).

    Returns:
        one call per row, model and sample, in that nesting order.
    """
    selected = responses.take(pa.array(rows, pa.int64())).select(
        ["prompt_id", "prompt", "response", "origin"]
    )
    calls = []
    for row, record in zip(rows.tolist(), selected.to_pylist(), strict=True):
        messages = build_messages(rubric, record["prompt"], [record["response"]])
        where = {"item": row, "prompt_id": record["prompt_id"], "origin": record["origin"], "order": None}
        for model in params.models:
            for sample in range(params.samples):
                calls.append(plan_call(params, rubric, messages, model, sample, **where))
    return calls


def calls_table(calls: list[PlannedCall], outcomes: dict[str, CallOutcome], rubric: Rubric) -> pa.Table:
    """Return the per-call table (``JUDGE_CALLS``) with each reply parsed into a verdict."""
    rows = []
    for call in calls:
        outcome = outcomes[call.request.key]
        if outcome.status == "received":
            verdict = parse_reply(rubric, outcome.text, outcome.finish_reason)
            status, score, detail = verdict.status, verdict.score, verdict.detail
            aspects = [{"name": name, "score": value} for name, value in verdict.aspects]
        else:
            status, score, detail, aspects = outcome.status, None, outcome.detail, []
        rows.append(
            {
                "item": call.item,
                "prompt_id": call.prompt_id,
                "origin": call.origin,
                "order": call.order,
                "model": call.model,
                "sample": call.sample,
                "rubric": rubric.name,
                "rubric_version": rubric.version,
                "key": call.request.key,
                "status": status,
                "score": score,
                "aspects": aspects,
                "raw": outcome.text,
                "finish_reason": outcome.finish_reason,
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
                "cost_usd": outcome.cost_usd,
                "detail": detail,
            }
        )
    return pa.Table.from_pylist(rows, schema=JUDGE_CALLS)


def scored_responses(responses: pa.Table, rows: np.ndarray, calls: pa.Table, judge: str) -> pa.Table:
    """Return ``responses`` with the judged ``rows`` rescored from the valid verdicts in ``calls``.

    A judged row without any valid verdict gets a null score and
    ``num_scores`` 0; rows not in ``rows`` are unchanged.
    """
    valid = calls.filter(pc.equal(calls.column("status"), OK))
    grouped = valid.group_by("item").aggregate([("score", "mean"), ("score", "stddev"), ("score", "count")])
    count = len(responses)
    score = responses.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    score_std = responses.column("score_std").to_numpy(zero_copy_only=False).astype(np.float64)
    num_scores = responses.column("num_scores").to_numpy(zero_copy_only=False).astype(np.float64)

    score[rows], score_std[rows], num_scores[rows] = np.nan, np.nan, 0
    items = grouped.column("item").to_numpy()
    counts = grouped.column("score_count").to_numpy()
    score[items] = grouped.column("score_mean").to_numpy()
    score_std[items] = np.where(counts > 1, grouped.column("score_stddev").to_numpy(), np.nan)
    num_scores[items] = counts

    judged = np.zeros(count, dtype=bool)
    judged[rows] = True
    judges = pc.if_else(pa.array(judged), pa.scalar(judge), responses.column("judge"))
    columns = {
        "score": pa.array(score, pa.float64(), from_pandas=True),
        "score_std": pa.array(score_std, pa.float64(), from_pandas=True),
        "num_scores": pa.array(num_scores, pa.float64(), from_pandas=True).cast(pa.int64()),
        "aspects": _aspect_means(responses, rows, valid),
        "judge": judges,
    }
    for name, column in columns.items():
        responses = responses.set_column(responses.schema.get_field_index(name), name, column)
    return responses.cast(tables.RESPONSES)


def _aspect_means(responses: pa.Table, rows: np.ndarray, valid: pa.Table) -> pa.Array:
    aspects = responses.column("aspects").to_pylist()
    for row in rows.tolist():
        aspects[row] = []
    if valid.num_rows and pc.sum(pc.list_value_length(valid.column("aspects"))).as_py():
        parents = pc.list_parent_indices(valid.column("aspects"))
        values = pc.list_flatten(valid.column("aspects")).combine_chunks()
        exploded = pa.table(
            {
                "item": pc.take(valid.column("item"), parents),
                "name": values.field("name"),
                "score": values.field("score"),
            }
        )
        means = exploded.group_by(["item", "name"], use_threads=False).aggregate([("score", "mean")])
        for item, name, mean in zip(
            *(means.column(c).to_pylist() for c in ("item", "name", "score_mean")), strict=True
        ):
            aspects[item].append({"name": name, "score": mean})
    return pa.array(aspects, pa.list_(tables.ASPECT))
