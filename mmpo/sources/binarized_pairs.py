"""Adapter for scored pairs in the UltraFeedback-binarized layout.

Each row contains a prompt, a chosen and a rejected response and both scores,
as in ``trl-lib/ultrafeedback_binarized`` or ``HuggingFaceH4/ultrafeedback_binarized``.
It becomes two response rows sharing a ``group_id``, so the label stage
compares them with each other only, even when another row repeats the prompt.

Texts are strings or message lists. A message-list ``chosen`` may carry the
whole conversation; its last message is the response, and when the row has no
``prompt`` field the messages before it are the prompt (they must then match
between chosen and rejected). Scores may sit in nested objects: set for
example ``ingest.fields.score_chosen: metadata.score_chosen``.
"""

from __future__ import annotations

from typing import Any, Iterator

from mmpo.errors import InputError
from mmpo.params import IngestParams
from mmpo.sources.base import (
    MISSING,
    ReadCounter,
    Rejected,
    get_field,
    iter_input_records,
    not_an_object,
    parse_score,
    response_row,
    to_messages,
)
from mmpo.sources.scored_responses import resolve_judge
from mmpo.text import prompt_hash

SOURCE = "binarized_pairs"


def read_binarized_pairs(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield two response rows, or one ``Rejected``, per input pair.

    Raises:
        InputError: the first row lacks a configured score field; the message
            names nested fields that would fit.
    """
    fields = params.field_map()
    warned: set[str] = set()
    first = True
    for origin, record in iter_input_records(params):
        counter.add("rows")
        if isinstance(record, Rejected):
            yield record
            continue
        if first and isinstance(record, dict):
            _check_score_fields(origin, record, fields)
            first = False
        result = _convert(origin, record, fields)
        if isinstance(result, Rejected):
            yield result
            continue
        judge = resolve_judge(record.get("judge"), params, warned)
        for row in result:
            row["judge"] = judge
            yield row


def _check_score_fields(origin: str, record: dict, fields: dict[str, str]) -> None:
    for key in ("score_chosen", "score_rejected"):
        if get_field(record, fields[key]) is not MISSING:
            continue
        nested = [
            f"{name}.{inner}"
            for name, value in record.items()
            if isinstance(value, dict)
            for inner in value
            if inner == key
        ]
        hint = f"; this row has {nested}: set ingest.fields.{key} to it" if nested else ""
        raise InputError(
            f"{origin}: field {fields[key]!r} (ingest.fields.{key}) not found; the row has "
            f"keys {sorted(record)}{hint}"
        )


def _split_conversation(value: Any, role: str) -> tuple[list | None, str | None]:
    """Return ``(messages before the response, response text)`` of a string or message list."""
    if isinstance(value, str):
        return [], value
    messages = to_messages(value, role)
    if messages is None or messages[-1]["role"] != "assistant":
        return None, None
    return messages[:-1], messages[-1]["content"]


def _convert(origin: str, record: Any, fields: dict[str, str]) -> list[dict] | Rejected:
    if not isinstance(record, dict):
        return not_an_object(origin, record)

    sides = {}
    for side in ("chosen", "rejected"):
        context, text = _split_conversation(get_field(record, fields[side]), "assistant")
        if text is None:
            detail = f"field {fields[side]!r} must be a string or end with an assistant message"
            return Rejected(origin, fields[side], f"invalid_{side}", detail, record)
        sides[side] = (context, text)

    prompt = _prompt(record, fields, sides)
    if isinstance(prompt, str):
        return Rejected(origin, fields["prompt"], "invalid_prompt", prompt, record)

    scores = {}
    for side in ("chosen", "rejected"):
        key = fields[f"score_{side}"]
        score, reason, detail = parse_score(get_field(record, key))
        if score is None:
            detail = f"{detail} in field {key!r}; give both responses a numeric score"
            return Rejected(origin, key, reason, detail, record)
        scores[side] = score

    prompt_id = prompt_hash(prompt)
    group_id = f"{prompt_id}:{origin}"
    return [
        response_row(
            prompt_id=prompt_id,
            group_id=group_id,
            prompt=prompt,
            response=sides[side][1],
            score=scores[side],
            judge="",
            source=SOURCE,
            model=None,
            origin=origin,
        )
        for side in ("chosen", "rejected")
    ]


def _prompt(record: dict, fields: dict[str, str], sides: dict) -> list | str:
    """Return the prompt messages, or an error detail string."""
    value = get_field(record, fields["prompt"])
    if value is not MISSING and value is not None:
        prompt = to_messages(value, "user")
        if prompt is None:
            return f"field {fields['prompt']!r} must be a string or a list of {{role, content}}"
        return prompt
    chosen_context, rejected_context = sides["chosen"][0], sides["rejected"][0]
    if not chosen_context:
        return f"field {fields['prompt']!r} is missing and chosen holds no conversation before the response"
    if chosen_context != rejected_context:
        return "chosen and rejected conversations differ before the response; the prompt is ambiguous"
    return chosen_context
