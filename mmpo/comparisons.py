"""Preference pairs from pairwise judgments (votes, vote shares, soft preferences).

A comparison row carries p_a, the probability that response A is preferred.
The winner becomes the chosen side with p_chosen = max(p_a, 1 - p_a), so
p_chosen is the vote share directly and no gamma applies. Such pairs have no
scores, so score_chosen, score_rejected and margin are null.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmpo import tables
from mmpo.pairs import PairCounts
from mmpo.text import canonical_texts


def comparison_preferences(
    comparisons: pa.Table, keep_ties: bool, tie_tolerance: float, label_smoothing: float = 0.0
) -> tuple[pa.Table, PairCounts]:
    """Turn comparison rows into preference-set rows.

    Rows whose two texts are equal after normalisation are dropped as
    identical. Rows with |p_a - 0.5| <= ``tie_tolerance`` are ties, dropped or
    kept with p_chosen = 0.5 and A as the chosen side. A single hard vote
    (p_a of 0 or 1 with ``votes`` 1 or null) gets p_chosen = 1 - ``label_smoothing``.

    Returns:
        The kept rows in the ``PREFERENCES`` schema, in input order, and counts.
    """
    p_a = comparisons.column("p_a").to_numpy(zero_copy_only=False).astype(np.float64)
    same = pc.equal(
        canonical_texts(comparisons.column("response_a")), canonical_texts(comparisons.column("response_b"))
    )
    identical = same.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    tie = ~identical & (np.abs(p_a - 0.5) <= tie_tolerance)
    keep = ~identical & (~tie | keep_ties)

    kept = comparisons.filter(pa.array(keep))
    a_wins = pa.array((p_a >= 0.5)[keep] | tie[keep])
    p_kept = p_a[keep]
    p_chosen = np.where(tie[keep], 0.5, np.maximum(p_kept, 1.0 - p_kept))
    votes = kept.column("votes").to_numpy(zero_copy_only=False).astype(np.float64)
    single_hard_vote = ((p_kept == 0.0) | (p_kept == 1.0)) & (np.isnan(votes) | (votes <= 1.0))
    p_chosen = np.where(single_hard_vote, 1.0 - label_smoothing, p_chosen)

    def pick(a_column: str, b_column: str, winner: bool) -> pa.Array:
        first, second = kept.column(a_column).combine_chunks(), kept.column(b_column).combine_chunks()
        return pc.if_else(a_wins, first, second) if winner else pc.if_else(a_wins, second, first)

    null_scores = pa.nulls(kept.num_rows, pa.float64())
    table = pa.table(
        {
            "prompt_id": kept.column("prompt_id"),
            "prompt": kept.column("prompt"),
            "chosen": tables.assistant_messages(pick("response_a", "response_b", True)),
            "rejected": tables.assistant_messages(pick("response_a", "response_b", False)),
            "score_chosen": null_scores,
            "score_rejected": null_scores,
            "margin": null_scores,
            "p_chosen": pa.array(p_chosen, pa.float64()),
            "source": kept.column("source"),
            "judge": kept.column("judge"),
            "model_chosen": pick("model_a", "model_b", True),
            "model_rejected": pick("model_a", "model_b", False),
            "score_std_chosen": null_scores,
            "score_std_rejected": null_scores,
            "gamma": null_scores,
            "weight": pa.array(np.ones(kept.num_rows), pa.float64()),
        },
        schema=tables.PREFERENCES,
    )
    counts = PairCounts(
        candidates=comparisons.num_rows,
        identical=int(identical.sum()),
        ties_dropped=0 if keep_ties else int(tie.sum()),
        ties_kept=int(tie.sum()) if keep_ties else 0,
        pairs=int(keep.sum()),
        single_response_groups=0,
    )
    return table, counts
