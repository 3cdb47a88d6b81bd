"""Per-pair loss weights for the ``weight`` column of the preference set."""

from __future__ import annotations

import numpy as np


def pair_weights(mode: str, std_chosen: np.ndarray, std_rejected: np.ndarray) -> np.ndarray:
    """Return float64 weights (N,) in (0, 1] for each pair.

    ``none`` gives 1.0 everywhere. ``score_agreement`` gives
    1 / (1 + std_chosen^2 + std_rejected^2): pairs whose judges or samples
    agree (spread 0, or a single score, stored as null/NaN) get weight 1, and
    pairs with a wide spread count less. The spread is in score units, so the
    same spread weighs more on a 1-5 scale than on a 1-10 scale.

    Raises:
        ValueError: ``mode`` is unknown.
    """
    std_chosen = np.nan_to_num(np.asarray(std_chosen, dtype=np.float64), nan=0.0)
    std_rejected = np.nan_to_num(np.asarray(std_rejected, dtype=np.float64), nan=0.0)
    if mode == "none":
        return np.ones(len(std_chosen), dtype=np.float64)
    if mode == "score_agreement":
        return 1.0 / (1.0 + std_chosen**2 + std_rejected**2)
    raise ValueError(f"unknown weight mode {mode!r}")
