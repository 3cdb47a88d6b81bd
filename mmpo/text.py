"""Text normalisation and prompt ids."""

from __future__ import annotations

import hashlib
import json
import unicodedata


def canonical_text(text: str) -> str:
    """Return ``text`` in Unicode NFC with runs of whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def prompt_hash(messages: list[dict[str, str]]) -> str:
    """Return a stable 32-hex id of a prompt, insensitive to whitespace and Unicode form."""
    canonical = [[m["role"], canonical_text(m["content"])] for m in messages]
    encoded = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:32]
