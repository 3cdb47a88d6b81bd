"""Arrow schema of the judge stage's per-call table."""

from __future__ import annotations

import pyarrow as pa

from mmpo.tables import ASPECT

JUDGE_CALLS = pa.schema(
    [
        ("item", pa.int64()),
        ("prompt_id", pa.string()),
        ("origin", pa.string()),
        ("order", pa.string()),
        ("model", pa.string()),
        ("sample", pa.int64()),
        ("rubric", pa.string()),
        ("rubric_version", pa.string()),
        ("key", pa.string()),
        ("status", pa.string()),
        ("score", pa.float64()),
        ("aspects", pa.list_(ASPECT)),
        ("raw", pa.string()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("detail", pa.string()),
    ]
)
"""One row per judge call result (response x judge model x sample, x order for pairs).

item: 0-based row of the input responses table, or the pair's index in
    pairwise mode.
origin: the response's ``origin``; for a pair, ``origin_a | origin_b`` in
    the order shown to the judge.
order: ``AB`` or ``BA`` for pairwise calls (A is the pair's first response
    in ``AB``), null otherwise.
key: the cache key, a SHA-256 of the request (see ``mmpo.judge.cache``).
status: ``ok``, a verdict failure (``unparseable``, ``out_of_range``,
    ``truncated``, ``content_filter``) or a request failure
    (``budget_exceeded``, ``http_error``, ``retries_exhausted``).
score: the verdict when ``status`` is ``ok``: the rating, or for a pairwise
    call the probability that the first response shown (A) is better.
raw: the reply text as received, kept for failures and audits.
cost_usd: cost of the reported usage at the params' prices; null without one.
detail: why the call failed, empty when ``ok``.
"""

JUDGE_FAILURES = pa.schema(
    [
        ("item", pa.int64()),
        ("prompt_id", pa.string()),
        ("origin", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)
"""One row per judged response (or pair) that ended without a score (or comparison).

reason: the most frequent failure status of its calls, or for a pair
    ``order_disagreement`` or ``missing_order``.
detail: the failures' details, naming the values.
"""
