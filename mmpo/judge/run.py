"""The judge stage's work: select responses, judge them, write the scored tables and metrics."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmpo import __version__, tables
from mmpo.errors import InputError
from mmpo.files import fingerprint, read_metadata, write_parquet
from mmpo.judge.cache import ReplyCache
from mmpo.judge.client import RECEIVED, CallOutcome, ClientSettings, judge_requests
from mmpo.judge.limits import Budget
from mmpo.judge.pairwise import comparison_rows, pair_preferences, plan_pairwise_calls, response_pairs
from mmpo.judge.rubrics import BUILTIN_RUBRICS, PAIRWISE, Rubric, load_rubric_file
from mmpo.judge.schemas import JUDGE_CALLS, JUDGE_FAILURES
from mmpo.judge.scores import PlannedCall, calls_table, plan_single_calls, scored_responses
from mmpo.judge.verdicts import OK, response_format
from mmpo.params import JudgeParams, params_to_dict

logger = logging.getLogger(__name__)


def resolve_rubric(params: JudgeParams) -> Rubric:
    """Return the built-in rubric named by ``params.rubric``, or the one in ``params.rubric_file``."""
    if params.rubric == "file":
        return load_rubric_file(params.rubric_file)
    return BUILTIN_RUBRICS[params.rubric]


def read_api_key(params: JudgeParams) -> str:
    """Return the API key from the environment variable named by ``params.api_key_env``.

    Raises:
        InputError: the variable is unset or empty.
    """
    key = os.environ.get(params.api_key_env)
    if not key:
        raise InputError(
            f"environment variable {params.api_key_env} (judge.api_key_env) is not set; export the API key "
            "in it, or any non-empty value for a local server without authentication"
        )
    return key


def client_settings(params: JudgeParams, rubric: Rubric, api_key: str) -> ClientSettings:
    """Return the client settings of a run."""
    return ClientSettings(
        base_url=params.base_url,
        api_key=api_key,
        api_key_env=params.api_key_env,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        seed=params.seed,
        response_format=response_format(rubric) if params.structured_output else None,
        concurrency=params.concurrency,
        requests_per_minute=params.requests_per_minute,
        tokens_per_minute=params.tokens_per_minute,
        timeout_s=params.timeout_s,
        max_retries=params.max_retries,
        backoff_base_s=params.backoff_base_s,
        backoff_max_s=params.backoff_max_s,
    )


def run_judge(params: JudgeParams, paths: dict[str, Path], cache_path: Path) -> dict[str, Any]:
    """Judge the responses named by ``params`` and write every output table.

    Args:
        paths: ``responses`` and ``comparisons`` (inputs; comparisons may be
            absent) and ``judged``, ``judged_comparisons``, ``calls``,
            ``failures`` (outputs).
        cache_path: SQLite file of the reply cache, kept across runs.

    Returns:
        metrics: counts of responses, calls by status, requests sent, tokens,
        cost and budget state.

    Raises:
        InputError: the responses file is missing, the API key is unset, or
            the rubric file is invalid.
        mmpo.judge.client.FatalJudgeError: authentication or quota failure.
    """
    if not Path(paths["responses"]).is_file():
        raise InputError(f"{paths['responses']}: responses not found; run the ingest stage first")
    responses = pq.read_table(paths["responses"], schema=tables.RESPONSES)
    comparisons = _read_comparisons(paths["comparisons"])
    metadata = {
        "stage": "judge",
        "params": params_to_dict(params),
        "input_fingerprint": fingerprint(paths["responses"]),
        "ingest": read_metadata(paths["responses"]),
        "mmpo_version": __version__,
    }
    if not params.enabled:
        logger.info(
            "judge: disabled (judge.enabled is false); passing %d responses through", responses.num_rows
        )
        _write_outputs(paths, responses, comparisons, JUDGE_CALLS.empty_table(), _no_failures(), metadata)
        return {"enabled": False, "responses": responses.num_rows, "responses_judged": 0, "requests_sent": 0}

    rubric = resolve_rubric(params)
    settings = client_settings(params, rubric, read_api_key(params))
    rows = _rows_to_judge(responses, params.rescore)
    judge = params.name if params.name is not None else "+".join(params.models)
    metadata["rubric"] = {"name": rubric.name, "version": rubric.version}
    logger.info(
        "judge: %s (rubric %s, version %s) at %s", judge, rubric.name, rubric.version, params.base_url
    )

    pairs = response_pairs(responses, rows) if rubric.kind == PAIRWISE else []
    planned = (
        plan_pairwise_calls(responses, pairs, params, rubric)
        if rubric.kind == PAIRWISE
        else plan_single_calls(responses, rows, params, rubric)
    )
    budget = Budget(params.budget_usd, params.prices)
    cache = ReplyCache(cache_path)
    try:
        outcomes = judge_requests([call.request for call in planned], settings, cache, budget)
    finally:
        cache.close()
    calls = calls_table(planned, outcomes, rubric)

    if rubric.kind == PAIRWISE:
        judged, metrics = _fold_pairs(responses, comparisons, pairs, calls, params, judge)
        responses_out, comparisons_out, failures = responses, judged, metrics.pop("failures")
    else:
        responses_out = scored_responses(responses, rows, calls, judge)
        failures = _response_failures(responses_out, rows, calls)
        comparisons_out = comparisons
        metrics = {
            "responses_scored": int(len(rows) - failures.num_rows),
            "responses_failed": failures.num_rows,
        }

    metrics = {
        **_run_metrics(params, rubric, responses, rows, planned, outcomes, calls, budget.stopped),
        **metrics,
    }
    _write_outputs(
        paths, responses_out, comparisons_out, calls, failures, {**metadata, "counts": _stable(metrics)}
    )
    _log_summary(metrics)
    return metrics


def _rows_to_judge(responses: pa.Table, rescore: bool) -> np.ndarray:
    if rescore:
        return np.arange(responses.num_rows, dtype=np.int64)
    return np.flatnonzero(pc.is_null(responses.column("score")).to_numpy(zero_copy_only=False)).astype(
        np.int64
    )


def _read_comparisons(path: Path | None) -> pa.Table:
    if path is None or not Path(path).is_file():
        return tables.COMPARISONS.empty_table()
    return pq.read_table(path, schema=tables.COMPARISONS)


def _no_failures() -> pa.Table:
    return JUDGE_FAILURES.empty_table()


def _fold_pairs(
    responses: pa.Table,
    comparisons: pa.Table,
    pairs: list[tuple[int, int]],
    calls: pa.Table,
    params: JudgeParams,
    judge: str,
) -> tuple[pa.Table, dict[str, Any]]:
    p_first, votes, reasons = pair_preferences(calls, len(pairs), params.allow_ties)
    new = comparison_rows(responses, pairs, p_first, votes, judge)
    origins = responses.column("origin").to_pylist()
    prompt_ids = responses.column("prompt_id").to_pylist()
    failed_calls = _failure_details(calls)
    rows = []
    for item, reason in enumerate(reasons):
        if reason is None:
            continue
        first, second = pairs[item]
        detail = "the two orders prefer different responses"
        if reason == "missing_order" and item in failed_calls:
            # An order without a valid verdict: report why its calls failed.
            reason, detail = failed_calls[item]
        elif reason == "missing_order":
            detail = "an order of the pair has no valid verdict"
        origin = f"{origins[first]} | {origins[second]}"
        rows.append(
            {
                "item": item,
                "prompt_id": prompt_ids[first],
                "origin": origin,
                "reason": reason,
                "detail": detail,
            }
        )
    failures = pa.Table.from_pylist(rows, schema=JUDGE_FAILURES)
    metrics = {
        "pairs": len(pairs),
        "comparisons_written": new.num_rows,
        "pairs_failed": failures.num_rows,
        "pairs_failed_by_reason": dict(sorted(Counter(failures.column("reason").to_pylist()).items())),
        "failures": failures,
    }
    return pa.concat_tables([comparisons, new]), metrics


def _failure_details(calls: pa.Table) -> dict[int, tuple[str, str]]:
    statuses: dict[int, Counter] = {}
    details: dict[int, list[str]] = {}
    for item, status, detail in zip(
        *(calls.column(c).to_pylist() for c in ("item", "status", "detail")), strict=True
    ):
        if status != OK:
            statuses.setdefault(item, Counter())[status] += 1
            if detail not in details.setdefault(item, []):
                details[item].append(detail)
    return {
        item: (counter.most_common(1)[0][0], "; ".join(details[item])) for item, counter in statuses.items()
    }


def _response_failures(scored: pa.Table, rows: np.ndarray, calls: pa.Table) -> pa.Table:
    num_scores = scored.column("num_scores").to_numpy()
    failed = rows[num_scores[rows] == 0]
    details = _failure_details(calls)
    origins = scored.column("origin").to_pylist()
    prompt_ids = scored.column("prompt_id").to_pylist()
    records = [
        {
            "item": int(row),
            "prompt_id": prompt_ids[row],
            "origin": origins[row],
            "reason": details.get(int(row), ("no_calls", ""))[0],
            "detail": details.get(int(row), ("", "no judge model was called"))[1],
        }
        for row in failed.tolist()
    ]
    return pa.Table.from_pylist(records, schema=JUDGE_FAILURES)


def _run_metrics(
    params: JudgeParams,
    rubric: Rubric,
    responses: pa.Table,
    rows: np.ndarray,
    planned: list[PlannedCall],
    outcomes: dict[str, CallOutcome],
    calls: pa.Table,
    budget_stopped: bool,
) -> dict[str, Any]:
    unique = list(outcomes.values())
    sent = [o for o in unique if not o.cached]
    received = [o for o in unique if o.status == RECEIVED]
    costs = [o.cost_usd for o in received]
    costs_this_run = [o.cost_usd for o in received if not o.cached]
    return {
        "enabled": True,
        "rubric": rubric.name,
        "rubric_version": rubric.version,
        "models": list(params.models),
        "responses": responses.num_rows,
        "responses_judged": int(len(rows)),
        "responses_passed_through": int(responses.num_rows - len(rows)),
        "calls": len(planned),
        "calls_by_status": dict(sorted(Counter(calls.column("status").to_pylist()).items())),
        "distinct_requests": len(unique),
        "replies_cached": len(unique) - len(sent),
        "requests_sent": sum(o.attempts for o in sent),
        "prompt_tokens": sum(o.prompt_tokens or 0 for o in received),
        "completion_tokens": sum(o.completion_tokens or 0 for o in received),
        "cost_usd_estimate": None if any(c is None for c in costs) else sum(costs),
        "cost_usd_this_run": None if any(c is None for c in costs_this_run) else sum(costs_this_run),
        "budget_usd": params.budget_usd,
        "budget_stopped": budget_stopped,
    }


def _stable(metrics: dict[str, Any]) -> dict[str, Any]:
    """Return the metrics that do not depend on which replies came from the cache."""
    varying = {"replies_cached", "requests_sent", "cost_usd_this_run"}
    return {key: value for key, value in metrics.items() if key not in varying}


def _write_outputs(
    paths: dict[str, Path],
    responses: pa.Table,
    comparisons: pa.Table,
    calls: pa.Table,
    failures: pa.Table,
    metadata: dict[str, Any],
) -> None:
    write_parquet(responses, paths["judged"], metadata)
    write_parquet(comparisons, paths["judged_comparisons"], metadata)
    write_parquet(calls, paths["calls"], metadata)
    write_parquet(failures, paths["failures"], metadata)


def _log_summary(metrics: dict[str, Any]) -> None:
    logger.info(
        "judge: %d call(s) by status %s; %d request(s) sent, %d reply(ies) from the cache",
        metrics["calls"],
        metrics["calls_by_status"],
        metrics["requests_sent"],
        metrics["replies_cached"],
    )
    if metrics["budget_stopped"]:
        logger.warning(
            "judge: stopped at the budget of %s USD; %d call(s) not sent are failures budget_exceeded",
            metrics["budget_usd"],
            metrics["calls_by_status"].get("budget_exceeded", 0),
        )
    for key in ("responses_failed", "pairs_failed"):
        if metrics.get(key):
            logger.warning("judge: %d %s (see the failures table)", metrics[key], key.replace("_", " "))
