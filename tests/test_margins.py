"""Margin functions against values computed in the test with float64 formulas."""

import math

import numpy as np
import pytest

from mmpo.errors import InputError
from mmpo.margins import margin_values

SCORES = np.array([1.0, 4.0, 7.0, 2.0, 200.0, 100.0])
JUDGES = np.array(["a", "a", "a", "b", "b", "b"], dtype=object)


def test_margin_difference_is_score():
    assert margin_values(SCORES, JUDGES, "difference", 1.0).tolist() == SCORES.tolist()


def test_margin_log_ratio_with_offset():
    values = margin_values(np.array([0.0, 9.0, 3.0]), JUDGES[:3], "log_ratio", 1.0)
    assert values[1] - values[0] == pytest.approx(math.log(10.0 / 1.0), rel=1e-15)
    assert values[1] - values[2] == pytest.approx(math.log(10.0 / 4.0), rel=1e-15)


def test_margin_log_ratio_negative_count_rejected():
    origins = np.array(["in.jsonl:1", "in.jsonl:2"], dtype=object)
    with pytest.raises(InputError, match=r"in.jsonl:2: score -2.0 plus label.log_ratio_offset 1.0"):
        margin_values(np.array([3.0, -2.0]), JUDGES[:2], "log_ratio", 1.0, origins)
    with pytest.raises(InputError, match=r"row 1: .* above 2.0 or use label.margin_function"):
        margin_values(np.array([3.0, -2.0]), JUDGES[:2], "log_ratio", 1.0)


def test_margin_zscore_per_judge():
    values = margin_values(SCORES, JUDGES, "zscore", 1.0)
    for judge in ("a", "b"):
        group = SCORES[JUDGES == judge]
        mean = sum(group) / 3
        std = math.sqrt(sum((s - mean) ** 2 for s in group) / 3)
        expected = [(s - mean) / std for s in group]
        assert values[JUDGES == judge].tolist() == pytest.approx(expected, rel=1e-12)


def test_margin_zscore_constant_group_is_zero():
    assert margin_values(np.array([5.0, 5.0]), JUDGES[:2], "zscore", 1.0).tolist() == [0.0, 0.0]


def test_margin_rank_per_judge():
    # Judge a ranks 1, 4, 7 as 0, 0.5, 1; judge b ranks 2, 200, 100 as 0, 1, 0.5.
    values = margin_values(SCORES, JUDGES, "rank", 1.0)
    assert values.tolist() == [0.0, 0.5, 1.0, 0.0, 1.0, 0.5]


def test_margin_rank_ties_average_and_single():
    values = margin_values(np.array([3.0, 3.0, 9.0, 1.0]), np.array(["a", "a", "a", "b"]), "rank", 1.0)
    assert values.tolist() == [0.25, 0.25, 1.0, 0.5]


def test_margin_unknown_rejected():
    with pytest.raises(ValueError, match="unknown margin function 'ratio'"):
        margin_values(SCORES, JUDGES, "ratio", 1.0)
