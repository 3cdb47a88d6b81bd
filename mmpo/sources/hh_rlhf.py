"""Adapter for Anthropic HH-RLHF rows: two whole transcripts, ``chosen`` and ``rejected``.

Each transcript is ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` and ends with an
assistant turn. The prompt is the conversation before the last assistant
turn, as messages; the two last assistant turns are the responses, with the
chosen one as side A (p_a = 1, one vote).

Rows go to the quarantine with these reasons:

    invalid_transcript  a transcript does not parse
    diverging_prompts   the transcripts differ before the last assistant
                        turn, so the pair has no shared prompt
    prefix_completion   one last turn is a prefix of the other (equal texts
                        included), which shows truncation, not preference
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import ReadCounter, Rejected, iter_input_records, not_an_object
from mmpo.sources.pairwise import comparison_row

SOURCE = "hh_rlhf"
UNIT = "rows"
TURN = re.compile(r"\n\n(Human|Assistant): ?")
ROLES = {"Human": "user", "Assistant": "assistant"}


def read_hh_rlhf(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row or ``Rejected`` per transcript pair."""
    judge = params.judge or "human"
    for origin, record in iter_input_records(params):
        counter.add(UNIT)
        yield (
            record
            if isinstance(record, Rejected)
            else _convert(origin, record, judge, params.max_text_length)
        )


def parse_transcript(text: Any) -> list[dict[str, str]] | None:
    """Split a transcript into ``{role, content}`` messages; None unless it ends with an assistant turn.

    Text before the first ``Human:`` marker is not allowed, so a transcript
    that does not start with a turn marker returns None.
    """
    if not isinstance(text, str):
        return None
    parts = TURN.split(text)
    if parts[0].strip() or len(parts) < 5:
        return None
    messages = [{"role": ROLES[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]
    return messages if messages[-1]["role"] == "assistant" else None


def _convert(origin: str, record: Any, judge: str, max_length: int) -> dict | Rejected:
    if not isinstance(record, dict):
        return not_an_object(origin, record)
    sides = {}
    for field in ("chosen", "rejected"):
        sides[field] = parse_transcript(record.get(field))
        if sides[field] is None:
            detail = f"{field} is not a Human/Assistant transcript that ends with an assistant turn"
            return Rejected(origin, field, "invalid_transcript", detail, record)

    chosen, rejected = sides["chosen"], sides["rejected"]
    if chosen[:-1] != rejected[:-1]:
        detail = "chosen and rejected differ before the last assistant turn, so they share no prompt"
        return Rejected(origin, "rejected", "diverging_prompts", detail, record)
    text_a, text_b = chosen[-1]["content"], rejected[-1]["content"]
    if text_a.strip() and text_b.strip() and (text_a.startswith(text_b) or text_b.startswith(text_a)):
        detail = (
            "one last assistant turn is a prefix of the other, so the pair shows truncation, not preference"
        )
        return Rejected(origin, "rejected", "prefix_completion", detail, record)

    return comparison_row(
        origin,
        record,
        prompt=chosen[:-1],
        response_a=text_a,
        response_b=text_b,
        p_a=1.0,
        votes=1.0,
        judge=judge,
        source=SOURCE,
        model_a=None,
        model_b=None,
        max_length=max_length,
    )
