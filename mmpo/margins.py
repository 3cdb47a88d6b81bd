"""Margin functions: the per-response value whose difference is a pair's margin.

Every function is monotone in the score within one normalisation group, so
the higher-scored response stays the chosen one:

- ``difference``: the score itself, so the margin is the score gap.
- ``log_ratio``: log(score + offset), so the margin is
  log((s_chosen + offset) / (s_rejected + offset)), the SHP-style ratio of
  vote counts. The offset (default 1) keeps zero counts finite; a count at or
  below -offset has no logarithm and is an error.
- ``zscore``: (score - mean) / std within each judge or source, with the
  population std, so sources on different scales mix. A group whose std is 0
  gets 0.
- ``rank``: the average rank within each judge or source scaled to [0, 1]
  ((rank - 1) / (n - 1); a group of one gets 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from mmpo.errors import InputError


def _item(values, row: int):
    item = values[row]
    return item.as_py() if isinstance(item, pa.Scalar) else item


def margin_values(
    scores: np.ndarray, groups: np.ndarray, function: str, offset: float, origins=None
) -> np.ndarray:
    """Return the value (R,) float64 per response that margins are differences of.

    Args:
        scores: float64 (R,), the response scores.
        groups: (R,) judge or source of each response, for ``zscore`` and ``rank``.
        function: one of ``mmpo.params.MARGIN_FUNCTIONS``.
        offset: added to scores before the log for ``log_ratio``.
        origins: (R,) ``file:line`` of each response (numpy or Arrow), named
            in errors; row numbers are named when None.

    Raises:
        InputError: ``log_ratio`` meets a score at or below -offset.
        ValueError: ``function`` is unknown.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if function == "difference":
        return scores
    if function == "log_ratio":
        shifted = scores + offset
        bad = np.flatnonzero(shifted <= 0)
        if len(bad):
            row = int(bad[0])
            where = f"row {row}" if origins is None else str(_item(origins, row))
            raise InputError(
                f"{where}: score {float(scores[row])!r} plus label.log_ratio_offset {offset} is not "
                f"positive, so its log ratio is undefined; {len(bad)} score(s) are affected. Raise "
                f"label.log_ratio_offset above {float(-scores.min())!r} or use "
                "label.margin_function: difference"
            )
        return np.log(shifted)
    frame = pd.DataFrame({"group": pd.factorize(np.asarray(groups, dtype=object))[0], "score": scores})
    grouped = frame.groupby("group")["score"]
    if function == "zscore":
        mean = grouped.transform("mean").to_numpy()
        std = grouped.transform(lambda values: values.std(ddof=0)).to_numpy()
        return np.where(std > 0, (scores - mean) / np.where(std > 0, std, 1.0), 0.0)
    if function == "rank":
        rank = grouped.rank(method="average").to_numpy()
        size = grouped.transform("size").to_numpy().astype(np.float64)
        return np.where(size > 1, (rank - 1.0) / np.maximum(size - 1.0, 1.0), 0.5)
    raise ValueError(f"unknown margin function {function!r}")
