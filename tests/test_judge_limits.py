"""Retry delays, Retry-After parsing, rate limiting, the budget and cache keys."""

import asyncio
import random
import time

import pytest

from mmpo.judge.cache import ReplyCache, request_key
from mmpo.judge.limits import Budget, RateLimiter, max_prompt_tokens, retry_after_seconds, retry_delay

PRICES = {"m": {"input_per_million": 2.0, "output_per_million": 8.0}}


def test_retry_delay_equal_jitter():
    """With e = min(cap, base * 2**k) the delay is e/2 + u * e/2 for the generator's next uniform u."""
    rng, reference = random.Random(3), random.Random(3)
    for attempt, base, cap in [(0, 1.0, 60.0), (3, 1.0, 60.0), (10, 1.0, 60.0), (2, 0.5, 1.0)]:
        expected = min(cap, base * 2**attempt)
        expected = expected / 2 + reference.uniform(0, expected / 2)
        assert retry_delay(attempt, base, cap, None, rng) == expected


def test_retry_delay_respects_retry_after():
    assert retry_delay(0, 0.1, 1.0, 7.5, random.Random(0)) == 7.5
    assert retry_delay(5, 1.0, 60.0, 0.0, random.Random(0)) >= 16.0


def test_retry_after_seconds_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(None) is None


def test_rate_limiter_waits_for_refill():
    async def take() -> float:
        limiter = RateLimiter(per_minute=600)  # 10 units per second
        await limiter.acquire(600)
        start = time.monotonic()
        await limiter.acquire(3)
        return time.monotonic() - start

    waited = asyncio.run(take())
    assert 0.29 <= waited < 1.0


def test_budget_reserve_and_settle():
    budget = Budget(1.0, PRICES)
    worst = budget.cost("m", 100_000, 50_000)
    assert worst == (100_000 * 2.0 + 50_000 * 8.0) / 1e6 == 0.6
    assert budget.reserve("m", 100_000, 50_000) == 0.6
    assert budget.reserve("m", 100_000, 50_000) is None
    assert budget.stopped
    budget.settle(0.6, 0.1)
    assert budget.spent_usd == 0.1
    assert budget.reserved_usd == 0.0
    assert budget.reserve("m", 1, 1) is None


def test_budget_without_cap():
    budget = Budget(None, {})
    assert budget.reserve("unpriced", 10, 10) == 0.0
    assert budget.cost("unpriced", 10, 10) is None


def test_max_prompt_tokens_counts_bytes():
    messages = [{"role": "user", "content": "héllo"}]
    assert max_prompt_tokens(messages) == 6 + 8


def test_request_key_changes_with_each_part():
    messages = [{"role": "user", "content": "x"}]
    sampling = {"temperature": 0.0, "max_tokens": 10, "seed": None, "sample": 0}
    key = request_key("http://h/v1", "m", "v1", messages, sampling)
    assert request_key("http://h/v1/", "m", "v1", messages, sampling) == key
    others = [
        request_key("http://g/v1", "m", "v1", messages, sampling),
        request_key("http://h/v1", "n", "v1", messages, sampling),
        request_key("http://h/v1", "m", "v2", messages, sampling),
        request_key("http://h/v1", "m", "v1", [{"role": "user", "content": "y"}], sampling),
        request_key("http://h/v1", "m", "v1", messages, {**sampling, "sample": 1}),
        request_key("http://h/v1", "m", "v1", messages, {**sampling, "temperature": 0.5}),
    ]
    assert len({key, *others}) == 7


def test_reply_cache_round_trip(tmp_path):
    cache = ReplyCache(tmp_path / "c" / "judge.sqlite")
    cache.put("k", {"text": "Rating: [[2]]", "finish_reason": "stop"})
    cache.close()
    reopened = ReplyCache(tmp_path / "c" / "judge.sqlite")
    assert reopened.get("k") == {"text": "Rating: [[2]]", "finish_reason": "stop"}
    assert reopened.get("other") is None
    assert len(reopened) == 1
    reopened.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"base_url": "127.0.0.1:8000"}, "must start with http"),
        ({"rubric": "file"}, "set it exactly when rubric is 'file'"),
        ({"rubric_file": "r.yaml"}, "set it exactly when rubric is 'file'"),
        ({"samples": 3}, "need temperature > 0"),
        ({"budget_usd": 5.0}, r"models \['gpt-4o-mini'\] have no entry"),
        ({"models": []}, "non-empty list of model names"),
        ({"models": ["a", "a"]}, "names a model twice"),
        ({"prices": {"m": {"input_per_million": 1}}}, "expected {input_per_million"),
        ({"prices": []}, "expected a mapping of model -> prices"),
        ({"api_key_env": ""}, "expected a non-empty string"),
        ({"temperature": 3}, "outside"),
        ({"concurrency": 0}, "below the minimum 1"),
    ],
)
def test_judge_params_invalid(values, message):
    from mmpo.params import JudgeParams, ParamsError

    with pytest.raises(ParamsError, match=message):
        JudgeParams.from_mapping(values)
