"""Adapter for vote-scored answers: StackExchange preferences and SHP rows.

Two row layouts are read, chosen per row by its keys:

    StackExchange  ``qid``, ``question`` (HTML) and ``answers``: a list of
                   {answer_id, text (HTML), pm_score}; each answer becomes
                   one response scored by its ``pm_score``.
    SHP            ``post_id``, ``history`` (the question), ``human_ref_A``,
                   ``human_ref_B``, ``score_A``, ``score_B`` (upvotes); each
                   side becomes one response scored by its upvotes.

Responses of one question share ``prompt_id`` (the hash of the question
text, or ``post_id``), so every pair of answers to a question is compared. SHP rows of one post are
expected to be consecutive; a response repeated within them (or within one
question's answers) is merged. HTML is kept as it is.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import MISSING, ReadCounter, Rejected, iter_input_records, response_row
from mmpo.sources.checks import merge_duplicates, scored, text_problem
from mmpo.sources.grouping import consecutive_groups
from mmpo.text import prompt_hash

SOURCE = "stack_exchange"
UNIT = "answers"
SCORE_RANGE = (-math.inf, math.inf)  # vote counts have no bound


def read_stack_exchange(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one response row or ``Rejected`` per answer, less merged duplicates.

    A row of neither layout counts as one answer and is rejected whole.
    """
    judge = params.judge or "votes"

    def post_key(record: Any) -> Any:
        return record.get("post_id") if isinstance(record, dict) and "answers" not in record else None

    for group in consecutive_groups(iter_input_records(params), post_key):
        rows = []
        for origin, record in group:
            counter.add("rows")
            for result in _convert(origin, record, params):
                counter.add(UNIT)
                if isinstance(result, Rejected):
                    yield result
                else:
                    result["judge"] = judge
                    rows.append(result)
        rows, merged = merge_duplicates(rows)
        counter.merged += merged
        yield from rows


def _convert(origin: str, record: Any, params: IngestParams) -> list[dict | Rejected]:
    if isinstance(record, Rejected):
        return [record]
    if isinstance(record, dict) and isinstance(record.get("answers"), list):
        # qid repeats across sites (a site and its meta site), so the question text identifies it.
        question, prompt_id = record.get("question", MISSING), None
        sides = [(f"{origin}#{i}", a, "text", "pm_score") for i, a in enumerate(record["answers"])]
    elif isinstance(record, dict) and "score_A" in record:
        question, prompt_id = record.get("history", MISSING), record.get("post_id")
        sides = [(f"{origin}#{side}", record, f"human_ref_{side}", f"score_{side}") for side in "AB"]
    else:
        detail = "expected a StackExchange row (qid, question, answers) or an SHP row (history, score_A, ...)"
        return [Rejected(origin, "", "invalid_row", detail, record)]

    problem = text_problem(question, params.max_text_length)
    if problem is not None:
        return [
            Rejected(side[0], "question", problem[0], f"question: {problem[1]}", record) for side in sides
        ]
    prompt = [{"role": "user", "content": question}]
    prompt_id = prompt_hash(prompt) if prompt_id is None else str(prompt_id)
    return [_answer(*side, prompt, prompt_id, params) for side in sides]


def _answer(
    origin: str, answer: Any, text_key: str, score_key: str, prompt, prompt_id, params
) -> dict | Rejected:
    if not isinstance(answer, dict):
        return Rejected(origin, "answers", "invalid_row", "the answer is not an object", answer)
    problem = text_problem(answer.get(text_key, MISSING), params.max_text_length)
    if problem is not None:
        return Rejected(origin, text_key, problem[0], f"{text_key}: {problem[1]}", answer)
    score, reason, detail = scored(answer.get(score_key, MISSING), params.score_range or SCORE_RANGE)
    if score is None:
        return Rejected(origin, score_key, reason, f"{detail} in field {score_key!r}", answer)
    return response_row(
        prompt_id=prompt_id,
        group_id=prompt_id,
        prompt=prompt,
        response=answer[text_key],
        score=score,
        judge="",
        source=SOURCE,
        model=None,
        origin=origin,
    )
