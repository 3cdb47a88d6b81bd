"""Adapter for Chatbot Arena human votes (``lmsys-arena-human-preference-55k`` layout).

Row layout: ``id``, ``model_a``, ``model_b``; ``prompt``, ``response_a`` and
``response_b`` as JSON-encoded lists of turns (user turns and the two
models' assistant turns, entries may be null); one-hot ``winner_model_a``,
``winner_model_b``, ``winner_tie``. Each row becomes one comparison with
p_a = 1, 0 or 0.5 and one vote.

A multi-turn battle becomes the conversation up to the last user turn plus
the two last replies, but only when both models gave the same earlier
replies. Otherwise the two sides had different conversations, no shared
prompt exists, and the row goes to the quarantine as ``diverging_turns``.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import ReadCounter, Rejected, iter_input_records, not_an_object
from mmpo.sources.pairwise import comparison_row

SOURCE = "chatbot_arena"
UNIT = "rows"
OUTCOMES = {"winner_model_a": 1.0, "winner_model_b": 0.0, "winner_tie": 0.5}


def read_chatbot_arena(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row or ``Rejected`` per battle."""
    judge = params.judge or "human"
    for origin, record in iter_input_records(params):
        counter.add(UNIT)
        yield (
            record
            if isinstance(record, Rejected)
            else _convert(origin, record, judge, params.max_text_length)
        )


def _decode_turns(value: Any) -> list | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, list) and value else None


def _outcome(record: dict) -> float | None:
    flags = [record.get(key) for key in OUTCOMES]
    valid = all(isinstance(f, (int, float)) and not isinstance(f, bool) and f in (0, 1) for f in flags)
    if not valid or sum(flags) != 1:
        return None
    return next(p for key, p in OUTCOMES.items() if record[key] == 1)


def _convert(origin: str, record: Any, judge: str, max_length: int) -> dict | Rejected:
    if not isinstance(record, dict):
        return not_an_object(origin, record)
    turns = {key: _decode_turns(record.get(key)) for key in ("prompt", "response_a", "response_b")}
    lengths = {len(t) for t in turns.values() if t is not None}
    if None in turns.values() or len(lengths) != 1:
        detail = "prompt, response_a and response_b must be JSON lists of turns of equal length"
        return Rejected(origin, "prompt", "invalid_row", detail, record)
    p_a = _outcome(record)
    if p_a is None:
        detail = "winner_model_a, winner_model_b and winner_tie must be one-hot 0/1 integers"
        return Rejected(origin, "winner_tie", "invalid_label", detail, record)
    if turns["response_a"][:-1] != turns["response_b"][:-1]:
        detail = "the models gave different earlier replies, so the last turns have no shared prompt"
        return Rejected(origin, "response_a", "diverging_turns", detail, record)

    prompt = []
    for user, reply in zip(turns["prompt"][:-1], turns["response_a"][:-1], strict=True):
        prompt += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    prompt.append({"role": "user", "content": turns["prompt"][-1]})
    return comparison_row(
        origin,
        record,
        prompt=prompt,
        response_a=turns["response_a"][-1],
        response_b=turns["response_b"][-1],
        p_a=p_a,
        votes=1.0,
        judge=judge,
        source=SOURCE,
        model_a=record.get("model_a") if isinstance(record.get("model_a"), str) else None,
        model_b=record.get("model_b") if isinstance(record.get("model_b"), str) else None,
        max_length=max_length,
    )
