"""Adapter for any file of pairwise judgments, with columns mapped by ``ingest.fields``.

Fields (defaults in brackets): ``prompt`` (a string or a list of {role,
content}), ``response_a``, ``response_b`` (strings, or message lists whose
last message is the reply), optional ``prompt_id``, ``model_a``, ``model_b``,
``judge``. The judgment comes from ``ingest.comparisons.target``:

    label       one code in field ``label``, matched against the declared
                ``label_a``, ``label_b`` and ``label_tie`` codes
    p_a         field ``p_a``, a probability in [0, 1] that A is preferred
    annotators  one code per column of ``annotator_fields``; the vote share
                of A counts ties as half, and empty or null cells are skipped

A code matching no declared outcome goes to the quarantine as
``invalid_label``: codes differ between datasets, so none is guessed.
"""

from __future__ import annotations

from typing import Any, Iterator

from mmpo.params import ComparisonParams, IngestParams
from mmpo.sources.base import (
    MISSING,
    ReadCounter,
    Rejected,
    convert_objects,
    get_field,
    parse_score,
    to_messages,
)
from mmpo.sources.pairwise import comparison_row
from mmpo.sources.scored_responses import resolve_judge

SOURCE = "comparisons"
UNIT = "rows"


def read_generic_comparisons(params: IngestParams, counter: ReadCounter) -> Iterator[dict | Rejected]:
    """Yield one comparison row or ``Rejected`` per input row."""
    fields = params.field_map()
    warned: set[str] = set()
    yield from convert_objects(
        params, counter, UNIT, lambda origin, record: _convert(origin, record, fields, params, warned)
    )


def match_code(value: Any, codes: tuple) -> bool:
    """Return whether ``value`` equals one of ``codes``, as numbers when both are numeric."""
    number, _, _ = parse_score(value)
    for code in codes:
        code_number, _, _ = parse_score(code)
        if number is not None and code_number is not None:
            if number == code_number:
                return True
        elif str(value).strip() == str(code).strip():
            return True
    return False


def vote_value(value: Any, options: ComparisonParams) -> float | None:
    """Return 1, 0 or 0.5 for a code of A, B or a tie; None for an unknown code."""
    for codes, vote in ((options.label_a, 1.0), (options.label_b, 0.0), (options.label_tie, 0.5)):
        if match_code(value, codes):
            return vote
    return None


def _judgment(
    record: dict, fields: dict[str, str], options: ComparisonParams
) -> tuple[float, float | None] | str:
    """Return ``(p_a, votes)`` or an error detail string."""
    if options.target == "p_a":
        p_a, _, detail = parse_score(get_field(record, fields["p_a"]))
        if p_a is None or not 0.0 <= p_a <= 1.0:
            return f"field {fields['p_a']!r} must be a probability in [0, 1]: {detail or p_a}"
        return p_a, None
    columns = options.annotator_fields if options.target == "annotators" else (fields["label"],)
    votes = []
    for column in columns:
        value = get_field(record, column)
        if options.target == "annotators" and (value is MISSING or value is None or value == ""):
            continue
        vote = vote_value(value, options)
        if vote is None:
            return f"code {value!r} in field {column!r} is none of the declared label_a, label_b, label_tie"
        votes.append(vote)
    if not votes:
        return f"no annotator column of {list(columns)} holds a code"
    return sum(votes) / len(votes), float(len(votes))


def _response(value: Any) -> Any:
    if isinstance(value, list):
        messages = to_messages(value, "assistant")
        if messages is not None and messages[-1]["role"] == "assistant":
            return messages[-1]["content"]
    return value


def _convert(
    origin: str, record: dict, fields: dict[str, str], params: IngestParams, warned: set
) -> dict | Rejected:
    judgment = _judgment(record, fields, params.comparisons)
    if isinstance(judgment, str):
        field = fields["p_a"] if params.comparisons.target == "p_a" else fields["label"]
        return Rejected(origin, field, "invalid_label", judgment, record)
    prompt = to_messages(get_field(record, fields["prompt"]), "user")
    if prompt is None:
        detail = f"field {fields['prompt']!r} must be a string or a list of {{role, content}}"
        return Rejected(origin, fields["prompt"], "invalid_prompt", detail, record)

    def text(key: str) -> str | None:
        value = get_field(record, fields[key])
        return value if isinstance(value, str) and value else None

    return comparison_row(
        origin,
        record,
        prompt=prompt,
        response_a=_response(get_field(record, fields["response_a"])),
        response_b=_response(get_field(record, fields["response_b"])),
        p_a=judgment[0],
        votes=judgment[1],
        judge=resolve_judge(get_field(record, fields["judge"]), params, warned),
        source=SOURCE,
        model_a=text("model_a"),
        model_b=text("model_b"),
        max_length=params.max_text_length,
        prompt_id=text("prompt_id"),
    )
