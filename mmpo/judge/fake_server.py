"""A scripted Chat Completions server on 127.0.0.1 for tests and benchmarks.

It speaks the subset of the Chat Completions API that the judge client uses
(``POST /v1/chat/completions``) and serves each request with the action that a
script returns: a reply (with latency, finish reason and usage), an HTTP
error with headers such as ``Retry-After``, a malformed body, or a stall
longer than the client's timeout. It records every request it receives.
``GET /stats`` returns the counts as JSON, for a server in another process.

Run ``python -m mmpo.judge.fake_server --help`` for a standalone server with
the rating judge of ``rating_judge``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
class Stall:
    """No response for ``seconds``, then a reply, for a client that times out before."""

    seconds: float
    content: str = "Rating: [[5]]"


Action = Reply | Failure | Malformed | Stall
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
    """Threaded HTTP server that answers each request with ``script(body, number)``.

    Attributes:
        requests: every request received, in arrival order.
        successes: messages hash -> number of 200 replies sent for it.
        max_in_flight: most requests served at the same time.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[ReceivedRequest] = []
        self.successes: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.http = _QuietServer(("127.0.0.1", 0), _handler_class(self))
        self.http.daemon_threads = True
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        """The ``base_url`` for the client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def start(self) -> "FakeChatServer":
        """Start serving in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.http.shutdown()
        self.http.server_close()

    def record(self, body: dict[str, Any]) -> ReceivedRequest:
        """Store a received request and return it with its number."""
        with self.lock:
            request = ReceivedRequest(len(self.requests), body, time.monotonic(), messages_key(body))
            self.requests.append(request)
        return request

    def stats(self) -> dict[str, int]:
        """Return requests received, 200 replies sent, and keys that got more than one 200 reply."""
        with self.lock:
            return {
                "requests": len(self.requests),
                "successes": sum(self.successes.values()),
                "distinct_successes": len(self.successes),
                "duplicate_successes": sum(1 for count in self.successes.values() if count > 1),
                "max_in_flight": self.max_in_flight,
            }


class _QuietServer(ThreadingHTTPServer):
    """Threaded server that ignores clients which hung up (a client timeout), logging them at DEBUG."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("fake server: client %s hung up", client_address, exc_info=True)


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


def _handler_class(server: FakeChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

        def send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/stats":
                self.send(404, b'{"error": {"message": "not found"}}')
                return
            self.send(200, json.dumps(server.stats()).encode("utf-8"))

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if not self.path.endswith("/chat/completions"):
                self.send(404, b'{"error": {"message": "not found"}}')
                return
            request = server.record(body)
            with server.lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self.serve(server.script(body, request.number), body, request)
            finally:
                with server.lock:
                    server.in_flight -= 1

        def serve(self, action: Action, body: dict[str, Any], request: ReceivedRequest) -> None:
            if isinstance(action, Stall):
                time.sleep(action.seconds)
                action = Reply(action.content)
            time.sleep(action.latency)
            if isinstance(action, Failure):
                error = {"error": {"message": action.message, "type": "injected", "code": action.code}}
                self.send(action.status, json.dumps(error).encode("utf-8"), action.headers)
            elif isinstance(action, Malformed):
                self.send(200, b'{"id": "chatcmpl-broken", "choices": [')
            else:
                self.send(200, json.dumps(_completion(body, action, request.number)).encode("utf-8"))
                with server.lock:
                    server.successes[request.key] += 1

    return Handler


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
