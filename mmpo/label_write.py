"""The label stage's second pass: preference-set rows assembled from a moving window of responses.

Once the pairs are decided (as row numbers into the responses file), the
texts are read again batch by batch. Pairs come in order of their first
row, so a pair can be written as soon as the batch holding its last row is
read, and rows that no remaining pair needs leave the window. When the rows
of each prompt lie close together in the file, as the ingest stage writes
them for every built-in source, the window spans about one batch and memory
stays flat however large the input is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from mmpo import tables
from mmpo.label_scan import read_batches
from mmpo.pairs import PairIndex, filter_pairs
from mmpo.targets import stable_sigmoid

logger = logging.getLogger(__name__)

WRITE_COLUMNS = ["prompt_id", "prompt", "response", "score", "source", "judge", "model", "score_std"]


def pair_targets(pairs: PairIndex, gamma: np.ndarray) -> np.ndarray:
    """Return p_chosen = sigmoid(gamma * margin), float64 (N,), with exactly 0.5 for kept ties."""
    p_chosen = stable_sigmoid(gamma * pairs.margin)
    p_chosen[pairs.is_tie] = 0.5  # a kept tie is a coin flip whatever the tolerance allowed
    return p_chosen


def preference_table(
    responses: pa.Table, pairs: PairIndex, gamma: float | np.ndarray, weights: np.ndarray | None = None
) -> pa.Table:
    """Assemble the preference-set table for ``pairs`` in the ``PREFERENCES`` schema.

    Args:
        responses: the scored responses that ``pairs`` index, with the
            ``WRITE_COLUMNS``.
        pairs: N pairs as row numbers into ``responses``.
        gamma: one gamma, or float64 (N,) per pair.
        weights: float64 (N,) loss weights; 1.0 each when None.
    """
    chosen = pa.array(pairs.chosen)
    rejected = pa.array(pairs.rejected)
    gamma = np.broadcast_to(np.asarray(gamma, dtype=np.float64), pairs.margin.shape)
    p_chosen = pair_targets(pairs, gamma)
    weights = np.ones(len(pairs.margin)) if weights is None else weights

    def take(name: str, rows: pa.Array) -> pa.Array:
        return responses.column(name).take(rows).combine_chunks()

    columns = {
        "prompt_id": take("prompt_id", chosen),
        "prompt": take("prompt", chosen),
        "chosen": tables.assistant_messages(take("response", chosen)),
        "rejected": tables.assistant_messages(take("response", rejected)),
        "score_chosen": take("score", chosen),
        "score_rejected": take("score", rejected),
        "margin": pa.array(pairs.margin, pa.float64()),
        "p_chosen": pa.array(p_chosen, pa.float64()),
        "source": take("source", chosen),
        "judge": take("judge", chosen),
        "model_chosen": take("model", chosen),
        "model_rejected": take("model", rejected),
        "score_std_chosen": take("score_std", chosen),
        "score_std_rejected": take("score_std", rejected),
        "gamma": pa.array(gamma, pa.float64()),
        "weight": pa.array(weights, pa.float64()),
    }
    return pa.table(columns, schema=tables.PREFERENCES)


def preference_chunks(
    path: Path,
    pairs: PairIndex,
    gamma: np.ndarray,
    weights: np.ndarray,
    batch_rows: int | None = None,
) -> Iterator[tuple[slice, pa.Table]]:
    """Yield ``(positions, table)``: the preference rows of consecutive pairs, in pair order.

    Args:
        path: the responses file that ``pairs`` index by row number.
        pairs: N pairs ordered by their smaller row number (as ``build_pairs``
            returns them).
        gamma, weights: float64 (N,) per pair.
        batch_rows: responses read per batch; ``BATCH_ROWS`` when None.

    Raises:
        RuntimeError: the file has fewer rows than the pairs refer to, for
            example because it changed after the pairs were built.
    """
    count = len(pairs.margin)
    low = np.minimum(pairs.chosen, pairs.rejected)
    high = np.maximum(pairs.chosen, pairs.rejected)
    ready_before = np.maximum.accumulate(high) if count else high  # pair i waits for this row
    needed_from = np.minimum.accumulate(low[::-1])[::-1] if count else low  # first row pairs i.. need

    window: pa.Table | None = None
    window_start = file_rows = done = 0
    largest_window = 0
    for batch in read_batches(path, WRITE_COLUMNS, batch_rows):
        window = batch if window is None else pa.concat_tables([window, batch])
        file_rows += batch.num_rows
        largest_window = max(largest_window, window.num_rows)

        ready = int(np.searchsorted(ready_before, file_rows, side="left"))
        if ready > done:
            positions = slice(done, ready)
            local = filter_pairs(pairs, positions)
            local = PairIndex(
                local.chosen - window_start, local.rejected - window_start, local.margin, local.is_tie
            )
            yield positions, preference_table(window, local, gamma[positions], weights[positions])
            done = ready

        keep_from = int(needed_from[done]) if done < count else file_rows
        if keep_from > window_start:
            window = window.slice(keep_from - window_start)
            window_start = keep_from

    if done < count:
        raise RuntimeError(
            f"{path}: pairs refer to row {int(high.max())} but the file has {file_rows} rows; "
            "it changed while the label stage ran, so run the stage again"
        )
    logger.debug("label: the write window held at most %d responses", largest_window)
