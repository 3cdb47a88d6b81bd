"""Soft targets against an independent float64 formula."""

import math

import numpy as np
import pytest

from mmpo.targets import soft_targets, stable_sigmoid


def test_sigmoid_matches_formula():
    x = np.linspace(-30, 30, 241)
    expected = np.array([1.0 / (1.0 + math.exp(-v)) for v in x])
    np.testing.assert_allclose(stable_sigmoid(x), expected, rtol=1e-15, atol=0)


def test_sigmoid_extremes_without_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = stable_sigmoid(np.array([-1e308, -800.0, 0.0, 800.0, 1e308]))
    assert values[0] == 0.0
    assert values[2] == 0.5
    assert values[3] == 1.0
    assert values[4] == 1.0
    assert values.dtype == np.float64


def test_soft_targets_hand_values():
    # gamma = 0.5: margins 0, 2, 4 give sigmoid(0), sigmoid(1), sigmoid(2).
    p = soft_targets(np.array([0.0, 2.0, 4.0]), 0.5)
    assert p[0] == 0.5
    assert p[1] == pytest.approx(0.7310585786300049, abs=1e-16)
    assert p[2] == pytest.approx(0.8807970779778823, abs=1e-16)


def test_soft_targets_integer_input_is_float64():
    assert soft_targets(np.array([1, 2]), 1.0).dtype == np.float64
