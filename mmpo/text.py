"""Text normalisation and prompt ids."""

from __future__ import annotations

import hashlib
import json
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def canonical_text(text: str) -> str:
    """Return ``text`` in Unicode NFC with runs of whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def prompt_hash(messages: list[dict[str, str]]) -> str:
    """Return a stable 32-hex id of a prompt, insensitive to whitespace and Unicode form."""
    canonical = [[m["role"], canonical_text(m["content"])] for m in messages]
    encoded = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:32]


# The characters that Python's str.isspace() accepts, so str.split() splits on
# them: ASCII whitespace, \x1c-\x1f, NEL, and the Unicode space, line and
# paragraph separators. The pattern matches runs of two or more of them, or
# one that is not a plain space, so the many single spaces of ordinary text are
# left alone, which makes the replacement several times faster.
_OTHER_WHITESPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
)
_WHITESPACE_TO_COLLAPSE = f"[ {_OTHER_WHITESPACE}]{{2,}}|[{_OTHER_WHITESPACE}]"


def canonical_texts(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``canonical_text`` of every string, computed with Arrow kernels instead of a Python loop.

    Args:
        texts: (N,) string array; nulls stay null.

    Returns:
        (N,) string array, equal element by element to ``canonical_text``.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    normalised = pc.utf8_normalize(texts.cast(pa.string()), form="NFC")
    collapsed = pc.replace_substring_regex(normalised, _WHITESPACE_TO_COLLAPSE, " ")
    return pc.utf8_trim(collapsed, characters=" ")


def canonical_prompts(prompts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return one canonical string (N,) per message list: roles and canonical contents joined.

    Two prompts give the same string when their roles match and their
    contents match after ``canonical_text``. The separators \\x1f and \\x1e
    are whitespace to ``str.split``, so no canonical content contains them.
    """
    if isinstance(prompts, pa.ChunkedArray):
        prompts = prompts.combine_chunks()
    messages = prompts.flatten()
    contents = canonical_texts(messages.field("content"))
    joined = pc.binary_join_element_wise(messages.field("role"), contents, "\x1f")
    offsets = pc.subtract(prompts.offsets, prompts.offsets[0])
    per_prompt = pa.ListArray.from_arrays(offsets, joined)
    return pc.binary_join(per_prompt, "\x1e")


def text_fingerprints(texts: pa.Array | pa.ChunkedArray, chunk_rows: int = 65536) -> np.ndarray:
    """Return a 64-bit hash (N,) uint64 of each text's ``canonical_text``, computed slice by slice.

    Equal canonical texts get equal hashes. Unequal texts collide with a
    probability of about 2**-64 per pair, so callers that must be exact
    compare the texts of equal hashes again. Only one slice of normalised
    text is in memory at a time.
    """
    hashes = np.empty(len(texts), dtype=np.uint64)
    for start in range(0, len(texts), chunk_rows):
        canonical = canonical_texts(texts.slice(start, chunk_rows))
        # As bytes objects: no UTF-8 decoding, and pandas hashes them faster than str.
        as_bytes = canonical.cast(pa.binary()).to_numpy(zero_copy_only=False)
        hashes[start : start + len(as_bytes)] = pd.util.hash_array(as_bytes, categorize=False)
    return hashes
