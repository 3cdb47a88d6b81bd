"""Calibration metrics of pair predictions against hard and soft targets.

Notation: N pairs; p (N,) the predicted probability that the chosen response
wins, sigmoid(z); y (N,) the target, 1 for a hard label or p_chosen for the
soft one.

Each pair counts in both orientations, (p, y) and (1 - p, 1 - y), because
every pair is stored chosen-first: with one orientation all hard targets
would be 1 and the calibration error would only measure how close p is to 1.
"""

from __future__ import annotations

import numpy as np


def _both_orientations(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    return np.concatenate([p, 1.0 - p]), np.concatenate([y, 1.0 - y])


def equal_mass_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Return a bin index in [0, bins) per value, with about len(p) / bins values per bin.

    Bin edges are quantiles of ``p``, so equal values always share a bin
    (a constant predictor gets one bin, not an arbitrary split of ties).
    """
    edges = np.quantile(p, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.searchsorted(edges, p, side="right")


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Return one row per non-empty equal-mass bin: count, mean predicted, mean target.

    Args:
        p: predicted probabilities, shape (N,).
        y: targets in [0, 1], shape (N,).
        bins: number of bins, >= 1.
    """
    p_all, y_all = _both_orientations(p, y)
    index = equal_mass_bins(p_all, bins)
    rows = []
    for b in np.unique(index):
        members = index == b
        rows.append(
            {
                "bin": int(b),
                "count": int(members.sum()),
                "p_predicted": float(p_all[members].mean()),
                "target": float(y_all[members].mean()),
            }
        )
    return rows


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int) -> float | None:
    """Return ECE = sum_b (n_b / 2N) |mean p in b - mean y in b| over equal-mass bins.

    Both orientations of every pair are binned (2N points). Returns None for N = 0.
    """
    if len(p) == 0:
        return None
    rows = calibration_table(p, y, bins)
    total = sum(row["count"] for row in rows)
    return float(sum(row["count"] / total * abs(row["p_predicted"] - row["target"]) for row in rows))


def brier_score(p: np.ndarray, y: np.ndarray) -> float | None:
    """Return mean (p - y)^2; the same in both orientations. None for N = 0."""
    if len(p) == 0:
        return None
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    return float(np.mean((p - y) ** 2))


def accuracy_by_margin(
    z: np.ndarray, margin: np.ndarray, p_chosen: np.ndarray, edges: list[float]
) -> list[dict[str, float | int | str | None]]:
    """Return pairwise accuracy per margin bucket ``[edges[i], edges[i+1])``, the last open-ended.

    Ties (p_chosen == 0.5) are left out. Pairs without a margin (pairwise
    judgments) form a bucket named ``none``.

    Args:
        z: logits, shape (N,). margin: score gaps, shape (N,), NaN when absent.
        p_chosen: targets, shape (N,). edges: increasing bucket edges, score units.
    """
    z, margin, p_chosen = (np.asarray(a, np.float64) for a in (z, margin, p_chosen))
    decided = p_chosen != 0.5
    bounds = list(edges) + [np.inf]
    buckets = [
        (f"[{lo:g}, {hi:g})", (margin >= lo) & (margin < hi))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    buckets.append(("none", np.isnan(margin)))
    rows = []
    for name, members in buckets:
        members = members & decided
        count = int(members.sum())
        accuracy = float((z[members] > 0).mean()) if count else None
        rows.append({"bucket": name, "pairs": count, "accuracy": accuracy})
    return rows
