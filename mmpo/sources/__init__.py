"""Source adapters: each turns one input layout into canonical ``responses`` rows.

An adapter is a function ``(params, counter) -> Iterator[dict | Rejected]``
that yields response rows (dicts matching ``mmpo.tables.RESPONSES``),
comparison rows (``mmpo.tables.COMPARISONS``) or ``Rejected`` rows for the
quarantine, so counts add up.

``INPUT_UNITS`` names, per adapter that supports the check, the counter kind
that is one input unit: each unit becomes one output row, one quarantine row
or one merged duplicate.
"""

from __future__ import annotations

from typing import Callable, Iterator

from mmpo.params import IngestParams
from mmpo.sources import (
    alpaca_eval,
    arena_hard,
    chatbot_arena,
    generic_comparisons,
    helpsteer,
    hh_rlhf,
    pku_saferlhf,
    stack_exchange,
    ultrafeedback,
)
from mmpo.sources.base import ReadCounter, Rejected
from mmpo.sources.binarized_pairs import read_binarized_pairs
from mmpo.sources.mtbench import read_mtbench
from mmpo.sources.scored_responses import read_scored_responses

Adapter = Callable[[IngestParams, ReadCounter], Iterator["dict | Rejected"]]

ADAPTERS: dict[str, Adapter] = {
    "scored_responses": read_scored_responses,
    "binarized_pairs": read_binarized_pairs,
    "mtbench": read_mtbench,
    "ultrafeedback": ultrafeedback.read_ultrafeedback,
    "helpsteer": helpsteer.read_helpsteer,
    "stack_exchange": stack_exchange.read_stack_exchange,
    "chatbot_arena": chatbot_arena.read_chatbot_arena,
    "arena_hard": arena_hard.read_arena_hard,
    "hh_rlhf": hh_rlhf.read_hh_rlhf,
    "pku_saferlhf": pku_saferlhf.read_pku_saferlhf,
    "alpaca_eval": alpaca_eval.read_alpaca_eval,
    "comparisons": generic_comparisons.read_generic_comparisons,
}

INPUT_UNITS: dict[str, str] = {
    "scored_responses": "rows",
    **{
        module.SOURCE: module.UNIT
        for module in (
            ultrafeedback,
            helpsteer,
            stack_exchange,
            chatbot_arena,
            arena_hard,
            hh_rlhf,
            pku_saferlhf,
            alpaca_eval,
            generic_comparisons,
        )
    },
}

__all__ = ["ADAPTERS", "INPUT_UNITS", "ReadCounter", "Rejected"]
