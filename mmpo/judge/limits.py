"""Rate limits, retry delays and the cost budget of judge requests."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Mapping

MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators a chat template adds per message


class RateLimiter:
    """Token bucket that allows ``per_minute`` units per minute, refilled continuously.

    The bucket starts full, so a burst of up to one minute's allowance goes
    out at once, as the per-minute limits of hosted APIs allow. Waiters are
    served in arrival order.
    """

    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.rate = per_minute / 60.0
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, amount: float) -> None:
        """Wait until ``amount`` units (capped at one minute's allowance) are available, then take them."""
        amount = min(float(amount), self.capacity)
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
                self.updated = now
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Return the wait in seconds that a server requests in ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date; None when absent or unreadable.
    """
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def retry_delay(
    attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Return the wait in seconds before retry number ``attempt`` (0 for the first retry).

    Exponential backoff with equal jitter: with e = min(cap, base * 2**attempt)
    the wait is uniform in [e / 2, e]. A server's ``Retry-After`` is a lower
    bound: the wait is never shorter than it.
    """
    exponential = min(cap, base * 2.0**attempt)
    delay = exponential / 2.0 + rng.uniform(0.0, exponential / 2.0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """Return a typical prompt token count: about 4 UTF-8 bytes per token (English BPE), an estimate."""
    size = sum(len(m["content"].encode("utf-8")) for m in messages)
    return math.ceil(size / 4) + MESSAGE_OVERHEAD_TOKENS * len(messages)


def max_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Return an upper bound of the prompt tokens: byte-level BPE tokens cover at least one byte each."""
    size = sum(len(m["content"].encode("utf-8")) for m in messages)
    return size + MESSAGE_OVERHEAD_TOKENS * len(messages)


class Budget:
    """Spending cap in USD that requests reserve their worst-case cost against before they are sent.

    A request reserves ``max_prompt_tokens`` input and ``max_tokens`` output
    tokens at the model's prices; when its reply arrives the reservation is
    replaced by the cost of the reported usage. A request whose reservation
    does not fit is not sent, and neither is any later one (``stopped``), so
    the spending never exceeds the cap as long as the server bills no more
    than the reported usage.
    """

    def __init__(self, limit_usd: float | None, prices: Mapping[str, Mapping[str, float]]) -> None:
        self.limit_usd = limit_usd
        self.prices = prices
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.stopped = False

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Return the cost in USD of a usage, or None when ``model`` has no price."""
        price = self.prices.get(model)
        if price is None:
            return None
        return (
            prompt_tokens * price["input_per_million"] + completion_tokens * price["output_per_million"]
        ) / 1e6

    def reserve(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Reserve a worst-case cost; return it, 0.0 without a cap, or None once the cap is reached."""
        if self.limit_usd is None:
            return 0.0
        worst = self.cost(model, prompt_tokens, completion_tokens)
        if self.stopped or worst is None or self.spent_usd + self.reserved_usd + worst > self.limit_usd:
            self.stopped = True
            return None
        self.reserved_usd += worst
        return worst

    def settle(self, reservation: float, cost: float | None) -> None:
        """Release ``reservation`` and add the actual ``cost`` (None for a model without a price)."""
        self.reserved_usd = max(0.0, self.reserved_usd - reservation)
        if cost is not None:
            self.spent_usd += cost
