"""Shared pieces of the pairwise-judgment adapters: checked comparison rows."""

from __future__ import annotations

from typing import Any

from mmpo.sources.base import Rejected
from mmpo.sources.checks import messages_problem, text_problem
from mmpo.text import prompt_hash


def comparison_row(
    origin: str,
    record: Any,
    *,
    prompt: list[dict[str, str]],
    response_a: Any,
    response_b: Any,
    p_a: float,
    votes: float | None,
    judge: str,
    source: str,
    model_a: str | None,
    model_b: str | None,
    max_length: int,
    prompt_id: str | None = None,
) -> dict[str, Any] | Rejected:
    """Build one ``COMPARISONS`` row, or a ``Rejected`` naming the faulty text.

    ``prompt_id`` defaults to the hash of the prompt messages.
    """
    problem = messages_problem(prompt, max_length)
    if problem is not None:
        return Rejected(origin, "prompt", problem[0], f"prompt: {problem[1]}", record)
    for field, value in (("response_a", response_a), ("response_b", response_b)):
        problem = text_problem(value, max_length)
        if problem is not None:
            return Rejected(origin, field, problem[0], f"{field}: {problem[1]}", record)
    return {
        "prompt_id": prompt_id or prompt_hash(prompt),
        "prompt": prompt,
        "response_a": response_a,
        "response_b": response_b,
        "p_a": float(p_a),
        "votes": None if votes is None else float(votes),
        "judge": judge,
        "source": source,
        "model_a": model_a,
        "model_b": model_b,
        "origin": origin,
    }
