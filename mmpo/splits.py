"""Deterministic train/test assignment by hashed prompt id."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def prompt_uniform(prompt_id: str, seed: int) -> float:
    """Map ``(seed, prompt_id)`` to a number in [0, 1), stable across runs and platforms."""
    digest = hashlib.blake2b(f"{seed}\0{prompt_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign_test(prompt_ids: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Return a bool mask, shape (N,), that is True for rows whose prompt goes to test.

    Every row of one prompt_id gets the same answer, so no prompt is in both
    splits. The expected share of prompts in test is ``test_fraction``.
    """
    codes, uniques = pd.factorize(np.asarray(prompt_ids, dtype=object))
    draws = np.array([prompt_uniform(str(u), seed) for u in uniques], dtype=np.float64)
    return (draws < test_fraction)[codes] if len(codes) else np.zeros(0, dtype=bool)
