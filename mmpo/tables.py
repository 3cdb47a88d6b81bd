"""Arrow schemas of the tables the stages exchange.

Schemas are fixed here, never inferred from the first rows, so every file of a
kind has the same types whatever its content. Only types that ``datasets``,
pandas, polars and DuckDB read are used (lists of structs, no Arrow map).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
ASPECT = pa.struct([("name", pa.string()), ("score", pa.float64())])

RESPONSES = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("group_id", pa.string()),
        ("prompt", MESSAGES),
        ("response", pa.string()),
        ("score", pa.float64()),
        ("score_std", pa.float64()),
        ("num_scores", pa.int64()),
        ("aspects", pa.list_(ASPECT)),
        ("judge", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("origin", pa.string()),
    ]
)
"""One row per scored response.

prompt_id: hash of the canonical prompt unless the source has an id.
group_id: responses compared with each other; equals prompt_id unless the
    source delivers fixed pairs, whose two responses then share a group.
prompt: the conversation before the response.
score: the aggregate that margins are computed from (source units); null
    only for responses kept unscored for the judge stage.
score_std: population standard deviation of the individual scores averaged
    into ``score`` (several judges or samples); null for a single score.
num_scores: how many individual scores were averaged into ``score``.
aspects: per-aspect scores with their names; empty when the source has none.
origin: ``file:line`` (1-based) or ``dataset[split]:row`` of the input row.
"""

COMPARISONS = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("prompt", MESSAGES),
        ("response_a", pa.string()),
        ("response_b", pa.string()),
        ("p_a", pa.float64()),
        ("votes", pa.float64()),
        ("judge", pa.string()),
        ("source", pa.string()),
        ("model_a", pa.string()),
        ("model_b", pa.string()),
        ("origin", pa.string()),
    ]
)
"""One row per pairwise judgment between two responses, for sources without scores.

p_a: probability that response_a is preferred, in [0, 1]: a vote share (ties
    count half), a judge's soft preference, or 1 / 0 / 0.5 for one hard vote.
votes: number of judgments aggregated into p_a; null for one soft preference.
"""

QUARANTINE = pa.schema(
    [
        ("source", pa.string()),
        ("origin", pa.string()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("record", pa.string()),
    ]
)
"""One row per input row that could not become a response.

reason: a short fixed code counted in the metrics (``missing_score``, ...).
detail: a sentence naming the value and the fix.
record: the input row as JSON, so nothing is lost.
"""

PREFERENCES = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
        ("score_chosen", pa.float64()),
        ("score_rejected", pa.float64()),
        ("margin", pa.float64()),
        ("p_chosen", pa.float64()),
        ("source", pa.string()),
        ("judge", pa.string()),
        ("model_chosen", pa.string()),
        ("model_rejected", pa.string()),
        ("score_std_chosen", pa.float64()),
        ("score_std_rejected", pa.float64()),
        ("gamma", pa.float64()),
        ("weight", pa.float64()),
    ]
)
"""One row per preference pair: the product's main output.

chosen, rejected: the assistant turn as a one-message list, the layout of TRL's
    conversational preference format.
score_chosen, score_rejected, margin: null for pairs from pairwise judgments,
    which carry no scores.
margin: score_chosen - score_rejected (>= 0, score units).
p_chosen: sigmoid(gamma * margin) in [0.5, 1], float64; for a pairwise
    judgment, the winner's probability max(p_a, 1 - p_a).
score_std_chosen, score_std_rejected: spread of the individual scores behind
    each score (several judges or samples); null for a single score.
gamma: the gamma that produced p_chosen, per margin unit; null for pairwise
    judgments.
weight: per-pair weight of the loss, > 0; 1.0 unless ``label.weight`` sets one.
"""


def select_schema(schema: pa.Schema, names) -> pa.Schema:
    """Return the schema of the ``names`` columns of ``schema``, in the order of ``names``."""
    return pa.schema([schema.field(name) for name in names])


def assistant_messages(texts: pa.Array) -> pa.Array:
    """Wrap each string as a one-message list ``[{role: assistant, content}]``, shape (N,)."""
    count = len(texts)
    roles = pa.array(["assistant"] * count, pa.string())
    messages = pa.StructArray.from_arrays([roles, texts.cast(pa.string())], fields=list(MESSAGE))
    return pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), messages)
