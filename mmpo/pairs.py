"""Pair construction: the pairs a strategy forms among a group's responses.

The functions work on index arrays over the ``responses`` table, so no Python
loop runs over pairs. Texts are taken from Arrow columns once the pairs are known.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mmpo.strategies import select_strategy
from mmpo.text import canonical_text, text_fingerprints


@dataclasses.dataclass(frozen=True)
class PairIndex:
    """Pairs as row numbers into the responses table.

    Attributes:
        chosen, rejected: int64 arrays of shape (N,), row numbers.
        margin: float64 (N,), score_chosen - score_rejected >= 0; 0 for kept ties.
        is_tie: bool (N,), whether the pair is a kept tie.
    """

    chosen: np.ndarray
    rejected: np.ndarray
    margin: np.ndarray
    is_tie: np.ndarray


@dataclasses.dataclass(frozen=True)
class PairCounts:
    """Outcome counts of the candidate pairs (all pairs within a group)."""

    candidates: int
    identical: int
    ties_dropped: int
    ties_kept: int
    pairs: int
    single_response_groups: int
    not_in_strategy: int = 0
    below_min_margin: int = 0
    capped: int = 0

    def __add__(self, other: PairCounts) -> PairCounts:
        """Return the field-by-field sum, for counts of separate batches or inputs."""
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return PairCounts(*(a + b for a, b in pairs))


def candidate_pairs(group_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return row numbers (a, b), a < b, of every pair of rows sharing a group id.

    Args:
        group_ids: shape (R,), one group id per response row.

    Returns:
        Two int64 arrays of shape (C,), C = sum over groups of k * (k - 1) / 2,
        ordered by (a, b).
    """
    codes = pd.factorize(np.asarray(group_ids))[0] if len(group_ids) else np.zeros(0, dtype=np.int64)
    order = np.argsort(codes, kind="stable")  # rows of each group together, ascending within it
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1] if len(order) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(order)])
    position = np.arange(len(order)) - np.repeat(starts, sizes)  # 0-based place within the group
    partners = np.repeat(sizes, sizes) - 1 - position  # later rows of the same group

    first_sorted = np.repeat(np.arange(len(order)), partners)
    pair_starts = np.cumsum(partners) - partners
    step = np.arange(len(first_sorted)) - np.repeat(pair_starts, partners) + 1
    first, second = order[first_sorted], order[first_sorted + step]
    by_rows = np.lexsort((second, first))
    return first[by_rows].astype(np.int64), second[by_rows].astype(np.int64)


def build_pairs(
    responses: pa.Table,
    keep_ties: bool,
    tie_tolerance: float,
    *,
    strategy: str = "all",
    values: np.ndarray | None = None,
    seed: int = 0,
    fingerprints: np.ndarray | None = None,
    texts_of: Callable[[np.ndarray], dict[int, str]] | None = None,
) -> tuple[PairIndex, PairCounts]:
    """Build ordered pairs from the ``responses`` table.

    The pair strategy picks the candidate pairs among all pairs of a group.
    Candidates with the same response text (after Unicode NFC and whitespace
    normalisation) are dropped as identical first. Of the rest, pairs whose
    scores differ by at most ``tie_tolerance`` are ties, which are dropped or
    kept with margin 0. Every other pair is ordered so the higher value is
    chosen, and its margin is the gap in ``values``.

    Args:
        responses: table with ``group_id``, ``response`` and ``score`` columns.
        keep_ties: keep ties (in input order) instead of dropping them.
        tie_tolerance: largest score gap counted as a tie, score units, >= 0.
        strategy: one of ``mmpo.params.PAIR_STRATEGIES``.
        values: float64 (R,), per-response values from a margin function;
            the scores when None.
        seed: seed of the ``best_vs_random`` strategy.
        fingerprints: uint64 (R,), ``text_fingerprints`` of the response
            texts; computed from the ``response`` column when None.
        texts_of: returns {row: response text} for an int64 array of rows,
            to confirm equal fingerprints; reads the ``response`` column
            when None.
    """
    group_codes = column_codes(responses.column("group_id"))
    scores = responses.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    values = scores if values is None else np.asarray(values, dtype=np.float64)
    all_first, all_second = candidate_pairs(group_codes)
    in_strategy = select_strategy(strategy, all_first, all_second, group_codes, values, seed)
    first, second = all_first[in_strategy], all_second[in_strategy]

    if fingerprints is None:
        fingerprints = text_fingerprints(responses.column("response"))
    if texts_of is None:
        texts_of = _column_texts(responses.column("response"))
    identical = _identical(fingerprints, first, second, texts_of)
    tie = ~identical & (np.abs(scores[first] - scores[second]) <= tie_tolerance)
    keep = ~identical & (~tie | keep_ties)

    gap = values[first] - values[second]
    swap = gap < 0
    chosen = np.where(swap, second, first)[keep]
    rejected = np.where(swap, first, second)[keep]
    margin = np.where(tie, 0.0, np.abs(gap))[keep]

    group_sizes = np.bincount(group_codes) if len(group_codes) else np.zeros(0, dtype=np.int64)
    counts = PairCounts(
        candidates=int(len(first)),
        identical=int(identical.sum()),
        ties_dropped=0 if keep_ties else int(tie.sum()),
        ties_kept=int(tie.sum()) if keep_ties else 0,
        pairs=int(keep.sum()),
        single_response_groups=int((group_sizes == 1).sum()),
        not_in_strategy=int(len(all_first) - len(first)),
    )
    return PairIndex(chosen, rejected, margin, tie[keep]), counts


def column_codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return int64 codes (N,) numbering the distinct values of an Arrow column in first-seen order."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return pc.dictionary_encode(column).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _column_texts(texts: pa.ChunkedArray) -> Callable[[np.ndarray], dict[int, str]]:
    def texts_of(rows: np.ndarray) -> dict[int, str]:
        return {int(row): texts[int(row)].as_py() for row in rows}

    return texts_of


def _identical(
    fingerprints: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    texts_of: Callable[[np.ndarray], dict[int, str]],
) -> np.ndarray:
    """Return a bool mask (C,) of pairs whose texts are equal after ``canonical_text``.

    Fingerprints select the candidates, then the texts of each match are
    compared again, so a hash collision cannot drop a pair.
    """
    identical = fingerprints[first] == fingerprints[second]
    matches = np.flatnonzero(identical)
    if len(matches) == 0:
        return identical
    texts = texts_of(np.unique(np.concatenate([first[matches], second[matches]])))
    for index in matches:
        text_a, text_b = texts[int(first[index])], texts[int(second[index])]
        identical[index] = canonical_text(text_a) == canonical_text(text_b)
    return identical


def filter_pairs(pairs: PairIndex, keep: np.ndarray) -> PairIndex:
    """Return the pairs where the bool mask ``keep`` (N,) is True."""
    return PairIndex(pairs.chosen[keep], pairs.rejected[keep], pairs.margin[keep], pairs.is_tie[keep])
