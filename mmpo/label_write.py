"""The label stage's second pass: preference-set rows assembled from a moving window of responses.

Once the pairs are decided (as row numbers into the responses file), the
texts are read again batch by batch. A pair is written once the batches holding
both of its rows are read (and every pair before it), and rows that no
remaining pair needs leave the window. When the rows of each prompt lie
close together in the file, the window spans about one batch and memory
stays flat however large the input is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmpo import tables
from mmpo.label_scan import read_batches
from mmpo.pairs import PairIndex
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

    The window keeps only the rows that a pair still to be written needs.
    When the responses of a prompt lie far apart in the file, it has to hold
    the rows in between that belong to unfinished prompts, and logs a
    warning once.

    Args:
        path: the responses file that ``pairs`` index by row number.
        pairs: N pairs, written in this order.
        gamma, weights: float64 (N,) per pair.
        batch_rows: responses read per batch; ``BATCH_ROWS`` when None.

    Raises:
        RuntimeError: the file has fewer rows than the pairs refer to, for
            example because it changed after the pairs were built.
    """
    count = len(pairs.margin)
    high = np.maximum(pairs.chosen, pairs.rejected)
    ready_before = np.maximum.accumulate(high) if count else high  # pair i waits for this row
    last_use = _last_use(pairs, pq.ParquetFile(path).metadata.num_rows)

    window: pa.Table | None = None
    window_rows = np.zeros(0, dtype=np.int64)  # file row of each window row, ascending
    file_rows = done = 0
    warned = False
    for batch in read_batches(path, WRITE_COLUMNS, batch_rows):
        window = batch if window is None else pa.concat_tables([window, batch])
        window_rows = np.concatenate([window_rows, np.arange(file_rows, file_rows + batch.num_rows)])
        file_rows += batch.num_rows

        ready = int(np.searchsorted(ready_before, file_rows, side="left"))
        if ready > done:
            positions = slice(done, ready)
            local = PairIndex(
                np.searchsorted(window_rows, pairs.chosen[positions]),
                np.searchsorted(window_rows, pairs.rejected[positions]),
                pairs.margin[positions],
                pairs.is_tie[positions],
            )
            yield positions, preference_table(window, local, gamma[positions], weights[positions])
            done = ready

        window, window_rows = _drop_unneeded(window, window_rows, last_use, done)
        if not warned and window.num_rows > WINDOW_WARNING_BATCHES * batch.num_rows:
            warned = True
            logger.warning(
                "label: %d responses of %s wait in memory for later rows of the same prompt; "
                "memory grows with them. Sort the input by prompt to keep it flat",
                window.num_rows,
                path,
            )

    if done < count:
        raise RuntimeError(
            f"{path}: pairs refer to row {int(high.max())} but the file has {file_rows} rows; "
            "it changed while the label stage ran, so run the stage again"
        )


WINDOW_WARNING_BATCHES = 4  # window rows, in batches, above which the input order costs memory


def _last_use(pairs: PairIndex, file_rows: int) -> np.ndarray:
    """Return int64 (file_rows,): the last pair position that reads each row, -1 for none."""
    largest = max(int(np.max(pairs.chosen, initial=-1)), int(np.max(pairs.rejected, initial=-1)))
    last = np.full(max(file_rows, largest + 1), -1, dtype=np.int64)  # rows past the end: see RuntimeError
    positions = np.arange(len(pairs.margin))
    np.maximum.at(last, pairs.chosen, positions)
    np.maximum.at(last, pairs.rejected, positions)
    return last


def _drop_unneeded(window: pa.Table, window_rows: np.ndarray, last_use: np.ndarray, done: int):
    """Return the window without the rows that no pair from position ``done`` on reads."""
    keep = last_use[np.minimum(window_rows, len(last_use) - 1)] >= done
    if keep.all():
        return window, window_rows
    first_kept = int(np.argmax(keep)) if keep.any() else len(keep)
    if keep[first_kept:].all():  # the usual case: a prefix of finished rows, dropped without a copy
        return window.slice(first_kept), window_rows[first_kept:]
    return window.filter(pa.array(keep)), window_rows[keep]
