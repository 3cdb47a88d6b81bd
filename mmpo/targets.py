"""Soft targets from score margins, computed in float64 without overflow."""

from __future__ import annotations

import numpy as np


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-x)) elementwise in float64, finite for any finite input.

    Uses exp of a non-positive argument only: for x >= 0 it evaluates
    1 / (1 + exp(-x)), for x < 0 exp(x) / (1 + exp(x)), so neither branch
    overflows and large |x| rounds to exactly 0 or 1.

    Args:
        x: array of any shape; converted to float64.

    Returns:
        Array of the same shape, values in [0, 1], float64.
    """
    x = np.asarray(x, dtype=np.float64)
    exp_neg_abs = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + exp_neg_abs), exp_neg_abs / (1.0 + exp_neg_abs))


def soft_targets(margin: np.ndarray, gamma: float) -> np.ndarray:
    """Return MMPO targets p_chosen = sigmoid(gamma * margin).

    Args:
        margin: score_chosen - score_rejected, shape (N,), score units, >= 0.
        gamma: scale per score unit, > 0.

    Returns:
        p_chosen, shape (N,), float64 in [0.5, 1] for non-negative margins.
    """
    return stable_sigmoid(gamma * np.asarray(margin, dtype=np.float64))
