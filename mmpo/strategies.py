"""Pair strategies and the per-prompt cap, as index arithmetic over responses.

A strategy picks which candidate pairs of one group's responses are formed,
using each response's rank in its group (highest score first, input order
breaking ties). The cap then keeps at most N pairs per prompt. Both run as
numpy sorts and masks, so no Python loop runs over rows or pairs, and both are
deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rank_in_group(group_codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Return each row's 0-based rank in its group, highest score first.

    Args:
        group_codes: int array (R,), one code per row.
        scores: float64 (R,); equal scores keep input order.

    Returns:
        int64 (R,); 0 is the group's best response.
    """
    order = np.lexsort((np.arange(len(scores)), -scores, group_codes))
    sorted_groups = group_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - group_start
    return ranks


def _random_other(group_codes: np.ndarray, ranks: np.ndarray, seed: int) -> np.ndarray:
    """Return a bool mask (R,) marking one non-best row per group, drawn with ``seed``."""
    draws = np.random.default_rng(seed).random(len(ranks))
    draws[ranks == 0] = np.inf
    frame = pd.DataFrame({"group": group_codes, "draw": draws})
    picked = frame[ranks > 0].groupby("group", sort=False)["draw"].idxmin().to_numpy()
    mask = np.zeros(len(ranks), dtype=bool)
    mask[picked] = True
    return mask


def select_strategy(
    strategy: str,
    first: np.ndarray,
    second: np.ndarray,
    group_codes: np.ndarray,
    scores: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Return a bool mask (C,) of the candidate pairs (first, second) that ``strategy`` forms.

    Args:
        strategy: one of ``mmpo.params.PAIR_STRATEGIES``.
        first, second: int64 (C,), row numbers of every within-group pair.
        group_codes: int (R,), group of each row.
        scores: float64 (R,), the values that rank the rows.
        seed: seed of ``best_vs_random``.

    Raises:
        ValueError: ``strategy`` is unknown.
    """
    if strategy == "all":
        return np.ones(len(first), dtype=bool)
    ranks = rank_in_group(group_codes, scores)
    rank_a, rank_b = ranks[first], ranks[second]
    if strategy == "best_vs_rest":
        return (rank_a == 0) | (rank_b == 0)
    if strategy == "adjacent":
        return np.abs(rank_a - rank_b) == 1
    if strategy == "best_worst":
        worst = pd.Series(ranks).groupby(group_codes).transform("max").to_numpy()
        return ((rank_a == 0) & (rank_b == worst[second])) | ((rank_b == 0) & (rank_a == worst[first]))
    if strategy == "best_vs_random":
        other = _random_other(group_codes, ranks, seed)
        return ((rank_a == 0) & other[second]) | ((rank_b == 0) & other[first])
    raise ValueError(f"unknown pair strategy {strategy!r}")


def cap_per_group(group_codes: np.ndarray, margin: np.ndarray, cap: int, order: str, seed: int) -> np.ndarray:
    """Return a bool mask (N,) keeping at most ``cap`` pairs per group.

    Args:
        group_codes: int (N,), the prompt of each pair.
        margin: float64 (N,), margins of the pairs.
        cap: pairs kept per group; 0 keeps every pair.
        order: ``margin`` keeps the largest margins (input order breaks
            ties); ``random`` keeps a uniform draw made with ``seed``.

    Raises:
        ValueError: ``order`` is unknown.
    """
    count = len(group_codes)
    if cap == 0 or count == 0:
        return np.ones(count, dtype=bool)
    if order == "margin":
        key = -np.asarray(margin, dtype=np.float64)
    elif order == "random":
        key = np.random.default_rng(seed).random(count)
    else:
        raise ValueError(f"unknown cap order {order!r}")
    ranks = rank_in_group(np.asarray(group_codes), -key)
    return ranks < cap
