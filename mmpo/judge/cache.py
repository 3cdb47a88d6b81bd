"""Crash-safe on-disk cache of judge replies, keyed by a hash of the request.

Each reply is committed to an SQLite database (write-ahead log) as soon as it
arrives, so a run killed at any point keeps every reply received before the
kill, and a rerun sends no request whose reply is stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)"


def request_key(
    base_url: str, model: str, rubric_version: str, messages: list[dict[str, str]], sampling: dict[str, Any]
) -> str:
    """Return the SHA-256 hex of the canonical JSON of everything that determines a reply.

    ``sampling`` contains temperature, max_tokens, seed and the sample index, so
    each of several samples of one response is its own entry. The
    ``response_format`` is left out because the verdict parser reads both JSON
    and plain-text replies.
    """
    request = {
        "base_url": base_url.rstrip("/"),
        "model": model,
        "rubric_version": rubric_version,
        "messages": messages,
        "sampling": sampling,
    }
    encoded = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class ReplyCache:
    """SQLite table ``replies(key, reply JSON)``; one commit per stored reply."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute(SCHEMA)
        self.connection.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored reply of ``key``, or None."""
        row = self.connection.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, reply: dict[str, Any]) -> None:
        """Store ``reply`` under ``key`` and commit at once."""
        encoded = json.dumps(reply, sort_keys=True, ensure_ascii=False)
        self.connection.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, encoded))
        self.connection.commit()

    def __len__(self) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self.connection.close()
