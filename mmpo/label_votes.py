"""Comparison pairs in the label stage, read batch by batch like the responses.

A first pass turns each batch of comparisons into preference rows and keeps
only their small columns, split keys, and the vote evidence that fits gamma
``auto``. After the per-prompt cap and the split are decided on those, a
second pass reads the batches again and writes the kept rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from mmpo import tables
from mmpo.comparisons import comparison_preferences
from mmpo.label_scan import check_schema, first_rows, prompt_keys_of, read_batches
from mmpo.pairs import PairCounts
from mmpo.text import canonical_prompts, text_fingerprints

SUMMARY_COLUMNS = ["prompt_id", "source", "score_chosen", "score_rejected", "margin", "p_chosen", "weight"]


@dataclasses.dataclass(frozen=True)
class VoteEvidence:
    """Comparisons that carry independent votes, for fitting gamma; K rows.

    Attributes:
        prompt_ids: object (K,), prompt id of each comparison.
        fingerprint_a, fingerprint_b: uint64 (K,), ``text_fingerprints`` of
            the two responses.
        p_a: float64 (K,), share of votes for response A.
        votes: float64 (K,), number of votes, > 0.
    """

    prompt_ids: np.ndarray
    fingerprint_a: np.ndarray
    fingerprint_b: np.ndarray
    p_a: np.ndarray
    votes: np.ndarray


@dataclasses.dataclass(frozen=True)
class VoteScan:
    """Facts of the comparisons table that the label stage keeps before writing.

    Attributes:
        summary: ``SUMMARY_COLUMNS`` of the M comparison pairs that pass the
            identical and tie rules, in file order, before the cap.
        key_codes: int64 (M,), index into ``key_texts`` of each pair's split key.
        key_texts: object (D,), the distinct split keys.
        evidence: the comparisons with votes, for gamma ``auto``.
        counts: identical, tie and kept counts over all rows.
        total: rows in the comparisons file.
    """

    summary: pa.Table
    key_codes: np.ndarray
    key_texts: np.ndarray
    evidence: VoteEvidence
    counts: PairCounts
    total: int

    @property
    def prompt_keys(self) -> np.ndarray:
        """Object (M,): the split key of each pair."""
        return self.key_texts[self.key_codes]


def scan_comparisons(path: Path, keep_ties: bool, tie_tolerance: float, label_smoothing: float) -> VoteScan:
    """Read the comparisons table at ``path`` batch by batch and keep what the split and gamma need.

    Raises:
        InputError: the file lacks a column of the comparisons schema.
    """
    check_schema(path, tables.COMPARISONS, "ingest", tables.COMPARISONS.names)
    summaries, key_ids, key_texts, evidence = [], [], [], []
    counts = PairCounts(0, 0, 0, 0, 0, 0)
    for batch in read_batches(path, tables.COMPARISONS.names, schema=tables.COMPARISONS):
        pairs, batch_counts = comparison_preferences(batch, keep_ties, tie_tolerance, label_smoothing)
        counts = counts + batch_counts
        summaries.append(pairs.select(SUMMARY_COLUMNS))
        first = first_rows(pairs.column("prompt_id"))
        key_ids.append(pairs.column("prompt_id").take(first).combine_chunks())
        key_texts.append(canonical_prompts(pairs.column("prompt").take(first)))
        evidence.append(_evidence(batch))

    summary = pa.concat_tables(summaries) if summaries else empty_summary()
    codes, texts = prompt_keys_of(summary.column("prompt_id"), key_ids, key_texts)
    return VoteScan(
        summary.combine_chunks(), codes, texts, _join_evidence(evidence), counts, counts.candidates
    )


def empty_summary() -> pa.Table:
    """Return an empty table of the ``SUMMARY_COLUMNS``."""
    return tables.select_schema(tables.PREFERENCES, SUMMARY_COLUMNS).empty_table()


def _evidence(batch: pa.Table) -> VoteEvidence:
    votes = batch.column("votes").to_numpy(zero_copy_only=False).astype(np.float64)
    p_a = batch.column("p_a").to_numpy(zero_copy_only=False).astype(np.float64)
    rows = np.flatnonzero((votes > 0) & ~np.isnan(p_a))  # NaN votes (none given) compare False
    voted = batch.take(pa.array(rows))
    return VoteEvidence(
        voted.column("prompt_id").to_numpy(zero_copy_only=False).astype(object),
        text_fingerprints(voted.column("response_a")),
        text_fingerprints(voted.column("response_b")),
        p_a[rows],
        votes[rows],
    )


def _join_evidence(parts: list[VoteEvidence]) -> VoteEvidence:
    if not parts:
        empty = np.zeros(0)
        return VoteEvidence(
            empty.astype(object), empty.astype(np.uint64), empty.astype(np.uint64), empty, empty
        )
    fields = [
        np.concatenate([getattr(part, f.name) for part in parts]) for f in dataclasses.fields(VoteEvidence)
    ]
    return VoteEvidence(*fields)


def comparison_chunks(
    path: Path, keep_ties: bool, tie_tolerance: float, label_smoothing: float, keep: np.ndarray
) -> Iterator[pa.Table]:
    """Yield the comparison pairs that ``keep`` selects, batch by batch, in file order.

    Args:
        keep: bool (M,) over the pairs of ``VoteScan.summary``, False for
            pairs dropped by the per-prompt cap.

    Raises:
        RuntimeError: the file no longer gives M pairs.
    """
    start = 0
    for batch in read_batches(path, tables.COMPARISONS.names, schema=tables.COMPARISONS):
        pairs, _ = comparison_preferences(batch, keep_ties, tie_tolerance, label_smoothing)
        selected = keep[start : start + pairs.num_rows]
        start += pairs.num_rows
        yield pairs.filter(pa.array(selected, pa.bool_()))
    if start != len(keep):
        raise RuntimeError(f"{path}: it changed while the label stage ran, so run the stage again")
