"""Async judge client: bounded concurrency, rate limits, retries, cache and budget.

Requests go through ``openai.AsyncOpenAI`` with the library's own retries
turned off. The retries here honour ``Retry-After``, use jittered
exponential backoff and stop at a cap. A request whose reply was received is
not sent again, because each reply is committed to the cache as it arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from typing import Any

import openai
from openai.types.chat import ChatCompletion
from tqdm.auto import tqdm

from mmpo.judge.cache import ReplyCache
from mmpo.judge.limits import (
    Budget,
    RateLimiter,
    estimate_tokens,
    max_prompt_tokens,
    retry_after_seconds,
    retry_delay,
)

logger = logging.getLogger(__name__)

RECEIVED = "received"
BUDGET_EXCEEDED = "budget_exceeded"
HTTP_ERROR = "http_error"
RETRIES_EXHAUSTED = "retries_exhausted"
MAX_LOGGED_RETRIES = 20  # retries logged one by one; later ones are only counted


class FatalJudgeError(RuntimeError):
    """An error that every further request would hit too: authentication, quota, unknown model."""


class MalformedReplyError(ValueError):
    """A 200 reply without ``choices[0].message``; retried like a reply that is not JSON."""


@dataclasses.dataclass(frozen=True)
class JudgeRequest:
    """One request: its cache key, the judge model and the messages."""

    key: str
    model: str
    messages: list[dict[str, str]]


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """Connection, sampling and limit settings of a run (see ``JudgeParams`` for units)."""

    base_url: str
    api_key: str = dataclasses.field(repr=False)  # kept out of any log line that prints the settings
    api_key_env: str
    temperature: float
    max_tokens: int
    seed: int | None
    response_format: dict[str, Any] | None
    concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    timeout_s: float
    max_retries: int
    backoff_base_s: float
    backoff_max_s: float


@dataclasses.dataclass(frozen=True)
class CallOutcome:
    """Outcome of one request.

    Attributes:
        status: ``received`` (a reply arrived; its verdict is parsed later),
            ``budget_exceeded`` (not sent), ``http_error`` (a 4xx that a retry
            cannot fix) or ``retries_exhausted``.
        text, finish_reason: the reply's content and finish reason.
        prompt_tokens, completion_tokens: usage reported by the server.
        cost_usd: cost of the usage at the params' prices; None without a price.
        attempts: requests sent for it in this run (0 when cached or not sent).
        cached: the reply came from the cache, so nothing was sent.
        detail: the last error, for failures.
    """

    status: str
    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    attempts: int = 0
    cached: bool = False
    detail: str = ""


def judge_requests(
    requests: list[JudgeRequest], settings: ClientSettings, cache: ReplyCache, budget: Budget, seed: int = 0
) -> dict[str, CallOutcome]:
    """Send every request whose reply is not cached and return key -> outcome for all.

    Requests with equal keys are sent once. Replies are stored in ``cache`` as
    they arrive, so an interrupted run loses none of them.

    Raises:
        FatalJudgeError: authentication failed, the quota is used up or the
            model is unknown; replies received so far stay in the cache.
    """
    unique = list({request.key: request for request in requests}.values())
    outcomes: dict[str, CallOutcome] = {}
    pending = []
    for request in unique:
        reply = cache.get(request.key)
        if reply is None:
            pending.append(request)
        else:
            outcomes[request.key] = CallOutcome(RECEIVED, cached=True, **reply)
    logger.info("judge: %d request(s), %d cached, %d to send", len(unique), len(outcomes), len(pending))

    if pending:
        runner = _Runner(settings, cache, budget, random.Random(seed))
        outcomes.update(asyncio.run(runner.run(pending)))
    return outcomes


class _Runner:
    def __init__(
        self, settings: ClientSettings, cache: ReplyCache, budget: Budget, rng: random.Random
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.budget = budget
        self.rng = rng
        self.response_format = settings.response_format
        self.stopped = False  # set by a fatal error, so that no further request is sent
        self.retries = 0

    async def run(self, requests: list[JudgeRequest]) -> dict[str, CallOutcome]:
        settings = self.settings
        self.client = openai.AsyncOpenAI(
            base_url=settings.base_url, api_key=settings.api_key, max_retries=0, timeout=settings.timeout_s
        )
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.request_limiter = (
            None if settings.requests_per_minute is None else RateLimiter(settings.requests_per_minute)
        )
        self.token_limiter = (
            None if settings.tokens_per_minute is None else RateLimiter(settings.tokens_per_minute)
        )
        self.progress = tqdm(total=len(requests), desc="judge", unit="request")

        tasks = [asyncio.create_task(self.judge(request)) for request in requests]
        try:
            outcomes = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.progress.close()
            await self.client.close()
        if self.retries:
            logger.info("judge: %d retr(ies) in total", self.retries)
        return {request.key: outcome for request, outcome in zip(requests, outcomes, strict=True)}

    async def judge(self, request: JudgeRequest) -> CallOutcome:
        async with self.semaphore:
            if self.stopped:
                return CallOutcome(HTTP_ERROR, detail="not sent: the run stopped at a fatal error")
            already_stopped = self.budget.stopped
            reservation = self.budget.reserve(
                request.model, max_prompt_tokens(request.messages), self.settings.max_tokens
            )
            if reservation is None:
                if not already_stopped:
                    logger.warning(
                        "judge: the next request would exceed the budget; sending no more requests"
                    )
                return self.skip()

            outcome = CallOutcome(HTTP_ERROR)
            try:
                await self.wait_for_rate_limits(request)
                outcome = await self.send_with_retries(request)
            except FatalJudgeError:
                self.stopped = True
                raise
            finally:
                self.budget.settle(reservation, outcome.cost_usd)
            if outcome.status == RECEIVED:
                self.cache.put(request.key, _stored_reply(outcome))
            self.progress.update(1)
            return outcome

    def skip(self) -> CallOutcome:
        self.progress.update(1)
        return CallOutcome(
            BUDGET_EXCEEDED, detail="not sent: its worst-case cost would exceed judge.budget_usd"
        )

    async def wait_for_rate_limits(self, request: JudgeRequest) -> None:
        if self.request_limiter is not None:
            await self.request_limiter.acquire(1)
        if self.token_limiter is not None:
            await self.token_limiter.acquire(estimate_tokens(request.messages) + self.settings.max_tokens)

    async def send_with_retries(self, request: JudgeRequest) -> CallOutcome:
        detail = ""
        for attempt in range(self.settings.max_retries + 1):
            try:
                return await self.send(request, attempt + 1)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
                raise FatalJudgeError(
                    f"authentication failed at {self.settings.base_url} (HTTP {error.status_code}): "
                    f"check the API key in the environment variable {self.settings.api_key_env}"
                ) from error
            except openai.NotFoundError as error:
                raise FatalJudgeError(
                    f"model {request.model!r} or the Chat Completions endpoint was not found at "
                    f"{self.settings.base_url} (HTTP 404): check judge.models and judge.base_url"
                ) from error
            except openai.RateLimitError as error:
                if _is_quota_error(error):
                    raise FatalJudgeError(
                        f"the quota of the account at {self.settings.base_url} is used up (HTTP 429, "
                        "insufficient_quota): add credit or raise the quota, then rerun"
                    ) from error
                detail, retry_after = _describe(error), retry_after_seconds(error.response.headers)
            except openai.BadRequestError as error:
                if self.response_format is None:
                    return CallOutcome(HTTP_ERROR, attempts=attempt + 1, detail=_describe(error))
                self.disable_structured_output(error)
                return await self.send_with_retries(request)
            except openai.APIStatusError as error:
                if error.status_code < 500:
                    return CallOutcome(HTTP_ERROR, attempts=attempt + 1, detail=_describe(error))
                detail, retry_after = _describe(error), retry_after_seconds(error.response.headers)
            except (
                openai.APIConnectionError,
                openai.APIResponseValidationError,
                json.JSONDecodeError,
                MalformedReplyError,
            ) as error:
                detail, retry_after = f"{type(error).__name__}: {error}", None

            if attempt == self.settings.max_retries:
                break
            delay = retry_delay(
                attempt, self.settings.backoff_base_s, self.settings.backoff_max_s, retry_after, self.rng
            )
            self.log_retry(request, attempt, delay, detail)
            await asyncio.sleep(delay)
        return CallOutcome(
            RETRIES_EXHAUSTED,
            attempts=self.settings.max_retries + 1,
            detail=f"gave up after retries: {detail}",
        )

    async def send(self, request: JudgeRequest, attempts: int) -> CallOutcome:
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        if self.settings.seed is not None:
            arguments["seed"] = self.settings.seed
        if self.response_format is not None:
            arguments["response_format"] = self.response_format
        # ``client.post`` skips the typed ``chat.completions.create`` wrapper and sends the same JSON.
        # The wrapper's request validation cost about 0.7 ms of CPU per request (openai 3.60,
        # Python 3.11, 2-core VM), which delayed the event loop at 32 concurrent requests.
        completion = await self.client.post("/chat/completions", body=arguments, cast_to=ChatCompletion)

        try:
            text, finish_reason = completion.choices[0].message.content, completion.choices[0].finish_reason
        except (AttributeError, IndexError, TypeError) as error:
            raise MalformedReplyError(f"the reply has no choices[0].message: {error}") from error
        usage = completion.usage
        prompt_tokens = None if usage is None else usage.prompt_tokens
        completion_tokens = None if usage is None else usage.completion_tokens
        cost = None if usage is None else self.budget.cost(request.model, prompt_tokens, completion_tokens)
        return CallOutcome(
            RECEIVED,
            text=text,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            attempts=attempts,
        )

    def disable_structured_output(self, error: openai.BadRequestError) -> None:
        if self.response_format is not None:
            logger.warning(
                "judge: the server rejected response_format (%s); sending plain requests and parsing the "
                "verdict line for the rest of the run",
                _describe(error),
            )
        self.response_format = None

    def log_retry(self, request: JudgeRequest, attempt: int, delay: float, detail: str) -> None:
        self.retries += 1
        if self.retries <= MAX_LOGGED_RETRIES:
            logger.warning(
                "judge: retry %d of request %s in %.2f s after %s",
                attempt + 1,
                request.key[:12],
                delay,
                detail,
            )
        elif self.retries == MAX_LOGGED_RETRIES + 1:
            logger.warning("judge: more retries follow; only their total is logged")


def _is_quota_error(error: openai.RateLimitError) -> bool:
    body = error.body if isinstance(error.body, dict) else {}
    return error.code == "insufficient_quota" or body.get("code") == "insufficient_quota"


def _describe(error: openai.APIStatusError) -> str:
    return f"HTTP {error.status_code}: {error.message}"


def _stored_reply(outcome: CallOutcome) -> dict[str, Any]:
    return {
        "text": outcome.text,
        "finish_reason": outcome.finish_reason,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cost_usd": outcome.cost_usd,
    }
