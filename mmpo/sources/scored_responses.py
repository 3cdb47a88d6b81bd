"""Adapter for one scored response per row (the embedded sample's layout).

Each row contains a prompt, one response and its score. Rows that share a
prompt are compared with each other. Columns are renamed with ``ingest.fields``:

    prompt_id  optional; a hash of the prompt when absent or empty
    prompt     a string (one user turn) or a list of {role, content} messages
    response   a string, or a message list whose last message is the response
    score      a number or numeric string; absent or null rows are kept with a
               null score when ``ingest.missing_scores`` is ``keep``
    model      optional generator name
    judge      optional; ``ingest.judge`` applies when absent
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

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
from mmpo.text import prompt_hash

logger = logging.getLogger(__name__)

SOURCE = "scored_responses"


def resolve_judge(value: Any, params: IngestParams, warned: set[str]) -> str:
    """Return the row's judge, else ``ingest.judge``, else ``unknown`` with one warning."""
    if isinstance(value, str) and value:
        return value
    if params.judge is not None:
        return params.judge
    if "judge" not in warned:
        warned.add("judge")
        logger.warning("input names no judge and ingest.judge is null: judge set to 'unknown'")
    return "unknown"


def _response_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    messages = to_messages(value, "assistant")
    if messages is None or messages[-1]["role"] != "assistant":
        return None
    return messages[-1]["content"]


def read_scored_responses(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one response row or one ``Rejected`` per input row."""
    fields = params.field_map()
    warned: set[str] = set()
    for origin, record in iter_input_records(params):
        counter.add("rows")
        if isinstance(record, Rejected):
            yield record
            continue
        yield _convert(origin, record, fields, params, warned)


def _convert(origin: str, record: Any, fields: dict[str, str], params, warned) -> dict | Rejected:
    if not isinstance(record, dict):
        return not_an_object(origin, record)

    prompt = to_messages(get_field(record, fields["prompt"]), "user")
    if prompt is None:
        detail = f"field {fields['prompt']!r} must be a string or a list of {{role, content}}"
        return Rejected(origin, fields["prompt"], "invalid_prompt", detail, record)

    response = _response_text(get_field(record, fields["response"]))
    if response is None:
        detail = f"field {fields['response']!r} must be a string or end with an assistant message"
        return Rejected(origin, fields["response"], "invalid_response", detail, record)

    score, reason, detail = parse_score(get_field(record, fields["score"]))
    keep_unscored = params.missing_scores == "keep" and reason in ("missing_score", "null_score")
    if score is None and not keep_unscored:
        detail = f"{detail} in field {fields['score']!r}; give every response a numeric score"
        return Rejected(origin, fields["score"], reason, detail, record)

    prompt_id = get_field(record, fields["prompt_id"])
    if prompt_id is MISSING or prompt_id is None or prompt_id == "":
        prompt_id = prompt_hash(prompt)
    model = get_field(record, fields["model"])
    return response_row(
        prompt_id=str(prompt_id),
        group_id=str(prompt_id),
        prompt=prompt,
        response=response,
        score=score,
        judge=resolve_judge(get_field(record, fields["judge"]), params, warned),
        source=SOURCE,
        model=model if isinstance(model, str) else None,
        origin=origin,
    )
