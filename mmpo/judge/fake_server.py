"""A scripted Chat Completions server on 127.0.0.1 for tests and benchmarks.

It speaks the subset of the Chat Completions API that the judge client uses
(``POST /v1/chat/completions``). A script picks the action for each request:
a reply (with latency, finish reason and usage), an HTTP error with headers
such as ``Retry-After``, a malformed body, or a stall longer than the
client's timeout. The server records every request it receives.
``GET /stats`` returns the counts as JSON, for a server in another process.

Run ``python -m mmpo.judge.fake_server --help`` for a standalone server with
the rating judge of ``rating_judge``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from http import HTTPStatus
from typing import Any, Callable

logger = logging.getLogger(__name__)

RESPONSE_BLOCK = re.compile(r"<<<RESPONSE-(\w+)>>>\n(.*)\n<<<END-RESPONSE-\1>>>", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Reply:
    """A completion with one choice."""

    content: str
    finish_reason: str = "stop"
    latency: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 20


@dataclasses.dataclass(frozen=True)
class Failure:
    """An HTTP error with an OpenAI-style error body."""

    status: int
    message: str = "injected error"
    code: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    latency: float = 0.0


@dataclasses.dataclass(frozen=True)
class Malformed:
    """A 200 response whose body is not valid JSON."""

    latency: float = 0.0


@dataclasses.dataclass(frozen=True)
class Empty:
    """A 200 response with valid JSON but an empty ``choices`` list."""

    latency: float = 0.0


@dataclasses.dataclass(frozen=True)
class Stall:
    """No response for ``seconds``, then a reply, for a client that times out before."""

    seconds: float
    content: str = "Rating: [[5]]"


Action = Reply | Failure | Malformed | Empty | Stall
Script = Callable[[dict[str, Any], int], Action]


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """One request as received: its number (0-based), JSON body, arrival time and messages hash."""

    number: int
    body: dict[str, Any]
    received_at: float
    key: str


def messages_key(body: dict[str, Any]) -> str:
    """Return a SHA-256 hex of a request's model and messages, to find repeated requests."""
    encoded = json.dumps([body.get("model"), body.get("messages")], sort_keys=True)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def judged_response(body: dict[str, Any]) -> str | None:
    """Return the text inside the RESPONSE data block of a judge request, or None."""
    for message in body.get("messages", []):
        match = RESPONSE_BLOCK.search(message.get("content", ""))
        if match is not None:
            return match.group(2)
    return None


def rating_judge(body: dict[str, Any]) -> int:
    """Return the scripted rating of a request: 1 + (UTF-8 length of the judged response mod 10)."""
    text = judged_response(body)
    return 1 if text is None else 1 + len(text.encode("utf-8")) % 10


class FakeChatServer:
    """HTTP/1.1 server on an asyncio loop in a background thread; ``script(body, number)`` picks each reply.

    The script runs on the server's loop thread, one request at a time.

    Attributes:
        requests: every request received, in arrival order.
        successes: messages hash -> number of 200 replies written for it.
        max_in_flight: most requests served at the same time.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[ReceivedRequest] = []
        self.successes: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The ``base_url`` for the client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeChatServer":
        """Listen on a free port of 127.0.0.1 and serve in a background thread."""
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the socket and open connections, then stop the loop."""
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def record(self, body: dict[str, Any]) -> ReceivedRequest:
        """Store a received request and return it with its number."""
        with self.lock:
            request = ReceivedRequest(len(self.requests), body, time.monotonic(), messages_key(body))
            self.requests.append(request)
        return request

    def stats(self) -> dict[str, int]:
        """Return requests received, 200 replies written, and keys that got more than one of them."""
        with self.lock:
            return {
                "requests": len(self.requests),
                "successes": sum(self.successes.values()),
                "distinct_successes": len(self.successes),
                "duplicate_successes": sum(1 for count in self.successes.values() if count > 1),
                "max_in_flight": self.max_in_flight,
            }

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=512)

    async def _close(self) -> None:
        self.server.close()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, body = request
                await self._respond(method, path, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            logger.debug("fake server: connection closed by the client")
        finally:
            writer.close()

    async def _respond(self, method: str, path: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        if method == "GET" and path.rstrip(b"/") == b"/stats":
            await _write(writer, 200, json.dumps(self.stats()).encode("utf-8"))
            return
        if method != "POST" or not path.endswith(b"/chat/completions"):
            await _write(writer, 404, b'{"error": {"message": "not found"}}')
            return

        payload = json.loads(body)
        request = self.record(payload)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._serve(self.script(payload, request.number), payload, request, writer)
        finally:
            with self.lock:
                self.in_flight -= 1

    async def _serve(
        self, action: Action, body: dict[str, Any], request: ReceivedRequest, writer: asyncio.StreamWriter
    ) -> None:
        if isinstance(action, Stall):
            await asyncio.sleep(action.seconds)
            action = Reply(action.content)
        await asyncio.sleep(action.latency)
        if isinstance(action, Failure):
            error = {"error": {"message": action.message, "type": "injected", "code": action.code}}
            await _write(writer, action.status, json.dumps(error).encode("utf-8"), action.headers)
        elif isinstance(action, Empty):
            await _write(writer, 200, b'{"id": "chatcmpl-empty", "object": "chat.completion", "choices": []}')
        elif isinstance(action, Malformed):
            await _write(writer, 200, b'{"id": "chatcmpl-broken", "choices": [')
        else:
            await _write(writer, 200, json.dumps(_completion(body, action, request.number)).encode("utf-8"))
            with self.lock:
                self.successes[request.key] += 1


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes, bytes] | None:
    """Read one request: method, path and body; None when the client closed the connection."""
    line = await reader.readline()
    if not line:
        return None
    method, path, _ = line.split(b" ", 2)
    length = 0
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return method.decode("ascii"), path, await reader.readexactly(length)


async def _write(
    writer: asyncio.StreamWriter, status: int, payload: bytes, headers: dict[str, str] | None = None
) -> None:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json"]
    lines.append(f"Content-Length: {len(payload)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
    await writer.drain()


def _completion(body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def rating_script(latency: float, error_rate: float, seed: int) -> Script:
    """Return a script that rates with ``rating_judge`` after ``latency`` seconds.

    A share ``error_rate`` of requests, drawn with a seeded generator, gets a
    transient error instead: half 429 with ``Retry-After: 0``, half 500.
    """
    rng = random.Random(seed)
    lock = threading.Lock()

    def script(body: dict[str, Any], number: int) -> Action:
        with lock:
            draw = rng.random()
        if draw < error_rate / 2:
            return Failure(429, "rate limited", headers={"Retry-After": "0"}, latency=latency)
        if draw < error_rate:
            return Failure(500, "server error", latency=latency)
        return Reply(f"A scripted verdict.\nRating: [[{rating_judge(body)}]]", latency=latency)

    return script


def main() -> None:
    """Serve the rating judge until interrupted; print the base URL on the first line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests given a 429 or 500")
    parser.add_argument("--seed", type=int, default=0, help="seed of the error draws")
    args = parser.parse_args()
    server = FakeChatServer(rating_script(args.latency, args.error_rate, args.seed)).start()
    print(server.base_url, flush=True)  # noqa: T201 - the caller reads the port from stdout
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
