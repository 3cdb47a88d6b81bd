"""Source adapters: each turns one input layout into canonical ``responses`` rows.

An adapter is a function ``(params) -> Iterator[dict | Rejected]`` that yields
one response row (a dict matching ``mmpo.tables.RESPONSES``) or one
``Rejected`` row for the quarantine per unit of input, so counts add up.
"""

from __future__ import annotations

from typing import Callable, Iterator

from mmpo.params import IngestParams
from mmpo.sources.base import ReadCounter, Rejected
from mmpo.sources.binarized_pairs import read_binarized_pairs
from mmpo.sources.mtbench import read_mtbench
from mmpo.sources.scored_responses import read_scored_responses

Adapter = Callable[[IngestParams, ReadCounter], Iterator["dict | Rejected"]]

ADAPTERS: dict[str, Adapter] = {
    "scored_responses": read_scored_responses,
    "binarized_pairs": read_binarized_pairs,
    "mtbench": read_mtbench,
}

__all__ = ["ADAPTERS", "ReadCounter", "Rejected"]
