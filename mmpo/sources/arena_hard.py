"""Adapter for Arena-Hard battle outcomes, repeated and aggregated into vote shares.

``ingest.path`` contains battle rows ``question_id``, ``model_a``, ``model_b`` and
``winner`` (``model_a``, ``model_b`` or a value starting with ``tie``). The
rows carry no texts, so they come from the Arena-Hard folders named by
``ingest.arena_hard.questions`` (``question_id``, ``turns: [{content}]``) and
``ingest.arena_hard.answers`` (``<model>.jsonl`` with ``question_id``,
``model_id``, ``choices: [{turns: [{content}]}]``); turns may also be plain
strings.

Battles of one (question, model_a, model_b) are judged several times, often
with conflicting winners: they become one comparison with p_a = (A wins +
ties / 2) / battles and votes = battles. Every battle after the first of its
group is counted as merged. All battles are held in memory, which suits
the published files (thousands of rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from mmpo.errors import InputError
from mmpo.params import IngestParams
from mmpo.sources.base import ReadCounter, Rejected, iter_file_records, iter_input_records
from mmpo.sources.pairwise import comparison_row

SOURCE = "arena_hard"
UNIT = "battles"


def read_arena_hard(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row per battle group, or one ``Rejected`` per unusable battle.

    Raises:
        InputError: ``ingest.arena_hard.questions`` or ``answers`` is unset or missing.
    """
    questions, answers = _read_texts(params)
    groups: dict[tuple, list[tuple[str, dict, float]]] = {}
    for origin, record in iter_input_records(params):
        counter.add(UNIT)
        outcome = _outcome(origin, record)
        if isinstance(outcome, Rejected):
            yield outcome
            continue
        key = (str(record.get("question_id")), record.get("model_a"), record.get("model_b"))
        groups.setdefault(key, []).append((origin, record, outcome))

    judge = params.judge or "unknown"
    for (question_id, model_a, model_b), battles in groups.items():
        origin, record, _ = battles[0]
        texts = [
            questions.get(question_id),
            answers.get((question_id, model_a)),
            answers.get((question_id, model_b)),
        ]
        if None in texts:
            detail = (
                f"question {question_id!r} or the answer of {model_a!r} or {model_b!r} is missing; "
                "add it to ingest.arena_hard.questions or answers"
            )
            yield from (Rejected(o, "question_id", "missing_text", detail, r) for o, r, _ in battles)
            continue
        p_a = sum(outcome for _, _, outcome in battles) / len(battles)
        row = comparison_row(
            origin,
            record,
            prompt=[{"role": "user", "content": texts[0]}],
            response_a=texts[1],
            response_b=texts[2],
            p_a=p_a,
            votes=float(len(battles)),
            judge=judge,
            source=SOURCE,
            model_a=model_a,
            model_b=model_b,
            max_length=params.max_text_length,
            prompt_id=question_id,
        )
        if isinstance(row, Rejected):
            yield from (Rejected(o, row.field, row.reason, row.detail, r) for o, r, _ in battles)
            continue
        counter.merged += len(battles) - 1
        yield row


def _outcome(origin: str, record: Any) -> float | Rejected:
    if isinstance(record, Rejected):
        return record
    if not isinstance(record, dict) or not all(
        isinstance(record.get(k), str) for k in ("model_a", "model_b")
    ):
        return Rejected(origin, "", "invalid_row", "a battle needs question_id, model_a and model_b", record)
    winner = record.get("winner")
    if winner == "model_a":
        return 1.0
    if winner == "model_b":
        return 0.0
    if isinstance(winner, str) and winner.startswith("tie"):
        return 0.5
    detail = f"winner {winner!r} is not model_a, model_b or tie"
    return Rejected(origin, "winner", "invalid_label", detail, record)


def _first_turn(turns: Any) -> str | None:
    if not isinstance(turns, list) or not turns:
        return None
    turn = turns[0]
    return turn.get("content") if isinstance(turn, dict) else turn


def _read_texts(params: IngestParams) -> tuple[dict, dict]:
    options = params.arena_hard
    for key in ("questions", "answers"):
        path = getattr(options, key)
        if path is None or not Path(path).exists():
            raise InputError(
                f"ingest.arena_hard.{key} = {path!r}: not found; battles contain no texts, so set it to the "
                "Arena-Hard question.jsonl file (questions) or model_answer folder (answers)"
            )
    questions = {}
    for _, record in iter_file_records(Path(options.questions)):
        if isinstance(record, dict):
            questions[str(record.get("question_id"))] = _first_turn(record.get("turns"))
    answers = {}
    for file in sorted(Path(options.answers).glob("*.jsonl")):
        for _, record in iter_file_records(file):
            choices = record.get("choices") if isinstance(record, dict) else None
            if isinstance(choices, list) and choices and isinstance(choices[0], dict):
                model = record.get("model_id") or file.stem
                answers[(str(record.get("question_id")), model)] = _first_turn(choices[0].get("turns"))
    return questions, answers
