"""Judge messages with each judged text inside a delimited data block.

A block starts with ``<<<NAME-TAG>>>`` and ends with ``<<<END-NAME-TAG>>>``
on lines of their own, where TAG is derived from a SHA-256 of all the judged
texts of the request. A judged text could contain the marker that closes its
own block only by containing a hash of itself. ``block_tag`` also re-derives
the tag in case it occurs in a text anyway, so a fake closing marker in a
response stays inside the data.
"""

from __future__ import annotations

import hashlib

from mmpo.judge.rubrics import PAIRWISE, Rubric

TAG_DIGITS = 16


def block_tag(texts: list[str]) -> str:
    """Return a 16-hex tag that occurs in none of ``texts``; deterministic for equal texts."""
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()
    while True:
        tag = digest[:TAG_DIGITS]
        if not any(tag in text for text in texts):
            return tag
        digest = hashlib.sha256(digest.encode("ascii")).hexdigest()


def data_block(name: str, text: str, tag: str) -> str:
    """Wrap ``text`` between the opening and closing marker lines of block ``name``."""
    return f"<<<{name}-{tag}>>>\n{text}\n<<<END-{name}-{tag}>>>"


def format_conversation(prompt: list[dict[str, str]]) -> str:
    """Render a conversation as ``[role]`` headers followed by the message text."""
    return "\n\n".join(f"[{message['role']}]\n{message['content']}" for message in prompt)


def build_messages(
    rubric: Rubric, prompt: list[dict[str, str]], responses: list[str]
) -> list[dict[str, str]]:
    """Return the Chat Completions messages that ask ``rubric`` about ``responses``.

    Args:
        prompt: the conversation before the response, as {role, content} dicts.
        responses: one text for single and aspect rubrics, two (A then B) for
            a pairwise rubric.

    Raises:
        ValueError: the number of responses does not match the rubric's kind.
    """
    expected = 2 if rubric.kind == PAIRWISE else 1
    if len(responses) != expected:
        raise ValueError(f"rubric {rubric.name!r} judges {expected} response(s), got {len(responses)}")

    question = format_conversation(prompt)
    tag = block_tag([question, *responses])
    names = ["RESPONSE"] if expected == 1 else ["RESPONSE-A", "RESPONSE-B"]
    blocks = [data_block("QUESTION", question, tag)]
    blocks += [data_block(name, text, tag) for name, text in zip(names, responses, strict=True)]

    user = rubric.instructions + "\n\n" + "\n\n".join(blocks)
    return [{"role": "system", "content": rubric.system}, {"role": "user", "content": user}]
