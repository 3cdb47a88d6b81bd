"""Pair strategies and the per-prompt cap on hand-built groups."""

import numpy as np
import pytest

from mmpo.pairs import candidate_pairs
from mmpo.strategies import cap_per_group, rank_in_group, select_strategy

# Group g0 has scores 3, 9, 5, 1 (ranks 2, 0, 1, 3); group g1 has 4, 8, 8.
GROUPS = np.array(["g0", "g0", "g0", "g0", "g1", "g1", "g1"], dtype=object)
CODES = np.array([0, 0, 0, 0, 1, 1, 1])
SCORES = np.array([3.0, 9.0, 5.0, 1.0, 4.0, 8.0, 8.0])


def pairs_for(strategy, seed=0):
    first, second = candidate_pairs(GROUPS)
    mask = select_strategy(strategy, first, second, CODES, SCORES, seed)
    return {tuple(sorted((int(a), int(b)))) for a, b in zip(first[mask], second[mask], strict=True)}


def test_rank_in_group_order():
    # Equal scores 8, 8 in g1 keep input order: row 5 ranks before row 6.
    assert rank_in_group(CODES, SCORES).tolist() == [2, 0, 1, 3, 2, 0, 1]


def test_strategy_all():
    assert len(pairs_for("all")) == 6 + 3


def test_strategy_best_worst():
    assert pairs_for("best_worst") == {(1, 3), (4, 5)}


def test_strategy_best_vs_rest():
    assert pairs_for("best_vs_rest") == {(0, 1), (1, 2), (1, 3), (4, 5), (5, 6)}


def test_strategy_adjacent():
    # g0 ranking: row 1 (9), row 2 (5), row 0 (3), row 3 (1).
    assert pairs_for("adjacent") == {(1, 2), (0, 2), (0, 3), (5, 6), (4, 6)}


def test_strategy_best_vs_random():
    chosen = pairs_for("best_vs_random", seed=3)
    assert len(chosen) == 2
    assert all(1 in pair for pair in chosen if pair[0] < 4)
    assert all(5 in pair for pair in chosen if pair[0] >= 4)
    assert chosen == pairs_for("best_vs_random", seed=3)


def test_strategy_best_vs_random_seed_changes_pick():
    picks = {frozenset(pairs_for("best_vs_random", seed=seed)) for seed in range(20)}
    assert len(picks) > 1


def test_strategy_unknown_rejected():
    first, second = candidate_pairs(GROUPS)
    with pytest.raises(ValueError, match="unknown pair strategy 'some'"):
        select_strategy("some", first, second, CODES, SCORES, 0)


def test_cap_keeps_largest_margins():
    groups = np.array([0, 0, 0, 1, 1])
    margin = np.array([1.0, 3.0, 2.0, 0.5, 0.5])
    # Equal margins in group 1 keep input order.
    assert cap_per_group(groups, margin, 2, "margin", 0).tolist() == [False, True, True, True, True]
    assert cap_per_group(groups, margin, 1, "margin", 0).tolist() == [False, True, False, True, False]


def test_cap_zero_keeps_all():
    assert cap_per_group(np.array([0, 0]), np.array([1.0, 2.0]), 0, "margin", 0).all()


def test_cap_random_seeded():
    groups = np.repeat(np.arange(50), 6)
    margin = np.arange(300, dtype=np.float64)
    kept = cap_per_group(groups, margin, 2, "random", 7)
    assert (np.bincount(groups[kept]) == 2).all()
    assert (kept == cap_per_group(groups, margin, 2, "random", 7)).all()
    assert (kept != cap_per_group(groups, margin, 2, "random", 8)).any()
    assert (kept != cap_per_group(groups, margin, 2, "margin", 7)).any()


def test_cap_unknown_order_rejected():
    with pytest.raises(ValueError, match="unknown cap order 'low'"):
        cap_per_group(np.array([0]), np.array([1.0]), 1, "low", 0)
