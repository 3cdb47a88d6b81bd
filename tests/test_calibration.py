"""Calibration metrics and RewardBench section scores against hand-computed values."""

import numpy as np
import pytest

from mmpo.calibration import (
    accuracy_by_margin,
    brier_score,
    calibration_table,
    equal_mass_bins,
    expected_calibration_error,
)
from mmpo.rewardbench import SUBSET_WEIGHTS, section_scores, subset_accuracy


def test_ece_zero_when_predictions_equal_soft_targets():
    p = np.array([0.55, 0.6, 0.7, 0.8, 0.9, 0.99])
    assert expected_calibration_error(p, p, bins=3) == pytest.approx(0.0, abs=1e-15)


def test_ece_constant_predictor():
    """A constant 0.8 against hard labels 1 (both orientations).

    Points: 0.8 with target 1 and 0.2 with target 0, N each. Two bins split
    them by value: |0.2 - 0| * 1/2 + |0.8 - 1| * 1/2 = 0.2.
    """
    p = np.full(10, 0.8)
    assert expected_calibration_error(p, np.ones(10), bins=2) == pytest.approx(0.2, abs=1e-15)
    # With one bin both orientations mix: mean p = 0.5, mean target = 0.5.
    assert expected_calibration_error(p, np.ones(10), bins=1) == pytest.approx(0.0, abs=1e-15)


def test_ece_hand_value_two_bins():
    """p = [0.9, 0.6], y = [1, 1]; points 0.9, 0.6, 0.1, 0.4 with targets 1, 1, 0, 0.

    Equal-mass bins of 2: {0.1, 0.4} -> |0.25 - 0| and {0.6, 0.9} -> |0.75 - 1|.
    ECE = 0.5 * 0.25 + 0.5 * 0.25 = 0.25.
    """
    assert expected_calibration_error(np.array([0.9, 0.6]), np.array([1.0, 1.0]), bins=2) == pytest.approx(
        0.25
    )


def test_equal_mass_bins_keep_ties_together():
    index = equal_mass_bins(np.array([0.5, 0.5, 0.5, 0.5, 0.9, 0.1]), bins=3)
    assert len(set(index[:4])) == 1
    assert index[5] < index[0] <= index[4]
    assert set(index) <= {0, 1, 2}


def test_calibration_table_counts_both_orientations():
    rows = calibration_table(np.array([0.9, 0.6, 0.7]), np.array([1.0, 1.0, 0.8]), bins=2)
    assert sum(r["count"] for r in rows) == 6


def test_brier_hand_value():
    # ((0.9 - 1)^2 + (0.6 - 1)^2) / 2 = (0.01 + 0.16) / 2 = 0.085
    assert brier_score(np.array([0.9, 0.6]), np.array([1.0, 1.0])) == pytest.approx(0.085)
    assert brier_score(np.array([]), np.array([])) is None


def test_empty_ece_is_none():
    assert expected_calibration_error(np.array([]), np.array([]), bins=10) is None


def test_accuracy_by_margin_buckets():
    z = np.array([1.0, -1.0, 2.0, 0.5, -0.3, 1.0])
    margin = np.array([0.5, 0.7, 3.0, 9.0, np.nan, 2.0])
    p_chosen = np.array([0.6, 0.6, 0.8, 0.99, 0.7, 0.5])
    rows = {r["bucket"]: r for r in accuracy_by_margin(z, margin, p_chosen, [0.0, 1.0, 5.0])}
    assert rows["[0, 1)"] == {"bucket": "[0, 1)", "pairs": 2, "accuracy": 0.5}
    assert rows["[1, 5)"]["pairs"] == 1  # the tie at margin 2 is left out
    assert rows["[5, inf)"]["accuracy"] == 1.0
    assert rows["none"] == {"bucket": "none", "pairs": 1, "accuracy": 0.0}


def test_subset_accuracy_ties_count_wrong():
    result = subset_accuracy(np.array([1.0, 0.0, -1.0, 2.0]), ["a", "a", "a", "b"])
    assert result["a"] == {"pairs": 3, "accuracy": pytest.approx(1 / 3)}
    assert result["b"]["accuracy"] == 1.0


def test_section_scores_weighted_by_example_counts():
    """Reasoning with math-prm at 0.5 (weight 984) and hep-python at 1.0 (weight 164).

    (0.5 * 984 + 1.0 * 164) / (984 + 164) = 656 / 1148.
    """
    result = section_scores({"math-prm": 0.5, "hep-python": 1.0, "alpacaeval-easy": 0.8, "custom": 0.1})
    assert result["sections"]["Reasoning"] == pytest.approx(656 / 1148)
    assert result["sections"]["Chat"] == pytest.approx(0.8)
    assert "Safety" not in result["sections"]
    assert result["score"] == pytest.approx((656 / 1148 + 0.8) / 2)
    assert result["unweighted_subsets"] == ["custom"]
    assert SUBSET_WEIGHTS["math-prm"] == 6 * SUBSET_WEIGHTS["hep-cpp"]
