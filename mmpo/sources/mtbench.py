"""Adapter for FastChat / MT-bench single-answer grading folders.

Layout of ``ingest.path``::

    question.jsonl            question_id, turns: [str, ...]
    model_answer/<m>.jsonl    question_id, model_id, choices: [{turns: [str, ...]}]
    model_judgment/<m>.jsonl  question_id, model, score (1-10 or null), judgment,
                              optional turn (1-based), optional judge: [name, prompt]

Each judgment row becomes one response: the answer of that model to that
question at that turn, scored by the judge. Answers without a judgment and
judgments without an answer go to the quarantine, so every row is counted.

Assumptions:
    - A judgment's model name matches the answer rows' ``model_id``; when it
      does not, the answer file with the judgment file's name is used, since
      published folders name files and rows differently (``Mistral-7B...`` vs
      ``mistralai/Mistral-7B...``).
    - ``choices[0]`` is the graded sample.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterator

from mmpo.errors import InputError
from mmpo.params import IngestParams
from mmpo.sources.base import (
    MISSING,
    ReadCounter,
    Rejected,
    iter_file_records,
    not_an_object,
    response_row,
)
from mmpo.sources.checks import scored
from mmpo.sources.scored_responses import resolve_judge
from mmpo.text import prompt_hash

logger = logging.getLogger(__name__)

SOURCE = "mtbench"
SCORE_RANGE = (1.0, 10.0)  # FastChat's single-answer grading scale
RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")


def read_mtbench(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one response row or ``Rejected`` per judgment, then one per unjudged answer.

    Raises:
        InputError: the folder lacks ``question.jsonl``, ``model_answer/`` or
            ``model_judgment/``, or ``ingest.hf_dataset`` is set.
    """
    if params.hf_dataset is not None:
        raise InputError("ingest.source mtbench reads a folder: set ingest.hf_dataset to null")
    root = Path(params.path)
    for required in ("question.jsonl", "model_answer", "model_judgment"):
        if not (root / required).exists():
            raise InputError(f"{root / required}: not found; an mtbench folder needs it")

    rejected: list[Rejected] = []
    questions = _read_questions(root / "question.jsonl", counter, rejected)
    answers = _read_answers(root / "model_answer", counter, rejected)
    yield from rejected

    used: set[tuple[str, str]] = set()
    warned: set[str] = set()
    seen: set[tuple[str, str, int]] = set()
    for file in sorted((root / "model_judgment").glob("*.jsonl")):
        for origin, record in iter_file_records(file):
            counter.add("judgments")
            yield _judged_response(
                origin, record, file.stem, questions, answers, used, seen, params, warned, counter
            )

    for key, (origin, answer) in answers.items():
        if key[0] == "file" or (key[1], key[2]) in used:
            continue
        counter.add("unjudged_answers")
        detail = "no judgment row names this question and model; judge it or remove the answer"
        yield Rejected(origin, "", "no_judgment", detail, answer)


def _read_questions(path: Path, counter: ReadCounter, rejected: list) -> dict[str, list[str]]:
    questions = {}
    for origin, record in iter_file_records(path):
        counter.add("questions")
        if isinstance(record, Rejected):
            rejected.append(record)
            continue
        turns = record.get("turns") if isinstance(record, dict) else None
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            detail = "a question needs question_id and turns: a non-empty list of strings"
            rejected.append(Rejected(origin, "turns", "invalid_question", detail, record))
            continue
        questions[str(record.get("question_id"))] = turns
    return questions


def _read_answers(folder: Path, counter: ReadCounter, rejected: list) -> dict:
    """Index answers by ("model", question_id, model_id) and ("file", question_id, file stem)."""
    answers: dict[tuple[str, str, str], tuple[str, Any]] = {}
    for file in sorted(folder.glob("*.jsonl")):
        for origin, record in iter_file_records(file):
            counter.add("answers")
            if isinstance(record, Rejected):
                rejected.append(record)
                continue
            question_id = str(record.get("question_id")) if isinstance(record, dict) else ""
            model = record.get("model_id") if isinstance(record, dict) else None
            if not question_id or not isinstance(model, str):
                detail = "an answer needs question_id and model_id"
                rejected.append(Rejected(origin, "model_id", "invalid_answer", detail, record))
                continue
            answers[("model", question_id, model)] = (origin, record)
            answers[("file", question_id, file.stem)] = (origin, record)
    return answers


def _answer_turns(answer: Any) -> list[str] | None:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    turns = choices[0].get("turns")
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        return None
    return turns


def _judged_response(origin, record, file_stem, questions, answers, used, seen, params, warned, counter):
    if isinstance(record, Rejected):
        return record
    if not isinstance(record, dict):
        return not_an_object(origin, record)

    question_id = str(record.get("question_id"))
    model = record.get("model")
    turn = record.get("turn", 1)
    turn = int(turn) if isinstance(turn, (int, float)) and float(turn).is_integer() else None
    if turn is None or turn < 1:
        detail = f"turn {record.get('turn')!r} is not a positive integer"
        return Rejected(origin, "turn", "invalid_turn", detail, record)

    found = answers.get(("model", question_id, str(model))) or answers.get(("file", question_id, file_stem))
    if question_id not in questions:
        detail = f"question_id {question_id!r} is not in question.jsonl"
        return Rejected(origin, "question_id", "unknown_question", detail, record)
    if found is None:
        detail = f"no answer of model {model!r} to question {question_id!r} in model_answer/"
        return Rejected(origin, "model", "no_answer", detail, record)

    answer_origin, answer = found
    answer_model = answer["model_id"]
    used.add((question_id, answer_model))
    if (question_id, answer_model, turn) in seen:
        detail = f"a second judgment of {answer_model!r} on question {question_id!r} turn {turn}"
        return Rejected(origin, "", "duplicate_judgment", detail, record)
    seen.add((question_id, answer_model, turn))

    score, reason, detail = _judgment_score(record, params, counter)
    if score is None:
        return Rejected(origin, "score", reason, f"{detail}; the judgment has no usable rating", record)

    question_turns, answer_turns = questions[question_id], _answer_turns(answer)
    if answer_turns is None or len(answer_turns) < turn or len(question_turns) < turn:
        detail = f"turn {turn} is missing from the question or from answer {answer_origin}"
        return Rejected(origin, "turn", "missing_turn", detail, record)

    prompt = []
    for index in range(turn):
        prompt.append({"role": "user", "content": question_turns[index]})
        if index < turn - 1:
            prompt.append({"role": "assistant", "content": answer_turns[index]})
    # Turns of one question share prompt_id, so the split keeps them together.
    prompt_id = question_id or prompt_hash(prompt[:1])
    return response_row(
        prompt_id=prompt_id,
        group_id=f"{prompt_id}:turn{turn}",
        prompt=prompt,
        response=answer_turns[turn - 1],
        score=score,
        judge=_judge_name(record, params, warned),
        source=SOURCE,
        model=answer_model,
        origin=origin,
    )


def _judgment_score(
    record: dict, params: IngestParams, counter: ReadCounter
) -> tuple[float | None, str, str]:
    """Return ``(score, reason, detail)``; a null score is re-read from the judgment text when allowed.

    With ``ingest.reparse_ratings`` a missing or null score is taken from the
    last ``[[rating]]`` in ``judgment`` (FastChat's rating format) and counted
    as ``reparsed_ratings``.
    """
    value = record.get("score", MISSING)
    if params.reparse_ratings and (value is MISSING or value is None):
        judgment = record.get("judgment")
        found = RATING.findall(judgment) if isinstance(judgment, str) else []
        if found:
            counter.notes["reparsed_ratings"] += 1
            value = found[-1]
    return scored(value, params.score_range or SCORE_RANGE)


def _judge_name(record: dict, params: IngestParams, warned: set[str]) -> str:
    judge = record.get("judge")
    if isinstance(judge, list) and judge:
        judge = judge[0]  # FastChat stores [judge model, prompt name]
    return resolve_judge(judge, params, warned)
