"""Deterministic train/test assignment by hashed prompt id or normalised prompt text."""

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
    return assign_test_by_code(codes, uniques, test_fraction, seed)


def assign_test_by_code(codes: np.ndarray, keys: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Return ``assign_test(keys[codes], ...)`` with one hash per distinct key instead of one per row.

    Args:
        codes: int (N,), index into ``keys`` of each row's split key.
        keys: (D,) distinct split keys.
    """
    draws = np.array([prompt_uniform(str(key), seed) for key in keys], dtype=np.float64)
    return (draws < test_fraction)[codes] if len(codes) else np.zeros(0, dtype=bool)


def assign_test_stratified(
    keys: np.ndarray, strata: np.ndarray, test_fraction: float, seed: int
) -> np.ndarray:
    """Return a bool mask (N,) sending round(test_fraction * n) prompts of each stratum to test.

    Within a stratum (for example a source) the prompts with the smallest
    hashed draws go to test, so each stratum gets its share exactly up to
    rounding, and the choice is fixed by ``seed``. A prompt found in several
    strata is assigned once, in the stratum named first in sort order.

    Args:
        keys: (N,) split key of each row.
        strata: (N,) stratum of each row.
    """
    frame = pd.DataFrame({"key": np.asarray(keys, dtype=object), "stratum": np.asarray(strata, dtype=object)})
    prompts = frame.groupby("key", sort=True)["stratum"].min().reset_index()
    prompts["draw"] = [prompt_uniform(str(key), seed) for key in prompts["key"]]
    prompts = prompts.sort_values(["stratum", "draw", "key"], kind="stable")
    position = prompts.groupby("stratum").cumcount().to_numpy()
    size = prompts.groupby("stratum")["key"].transform("size").to_numpy()
    test_keys = set(prompts["key"][position < np.round(test_fraction * size)])
    return frame["key"].isin(test_keys).to_numpy()
