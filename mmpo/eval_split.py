"""The test split as eval pairs for evaluation during training, and the per-step log rows.

DPO-form evaluation scores each pair against the reference policy, and it
gets the reference log-probabilities the way training gets them:

- training keeps the reference model in memory: evaluation runs it too, and
  reference columns of the test file are ignored;
- training reads stored reference log-probabilities: the test file's own
  columns are used when present, and their key is checked like the train
  file's. A test file without them gets them from the reference model once,
  before training starts.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from mmpo import reference_logps
from mmpo.encoding import EncodedPair, encode_pairs
from mmpo.params import TrainParams
from mmpo.preference_sets import read_preference_set
from mmpo.trainer import EVAL_PREFIX, LOGGED_METRICS

logger = logging.getLogger(__name__)

EVAL_COLUMNS = tuple(EVAL_PREFIX + key for key in ("loss", *LOGGED_METRICS))


def encode_eval_split(
    params: TrainParams, test_path: Path, tokenizer, reference, stored_reference: bool, device
) -> tuple[list[EncodedPair], int]:
    """Encode the test split for evaluation during training; return the pairs and the drop count.

    Args:
        reference: the frozen reference policy (DPO form) or None (reward models).
        stored_reference: training reads stored reference log-probabilities,
            so the eval pairs must carry them too.

    Raises:
        mmpo.reference_logps.StaleReferenceError: the test file's stored
            log-probabilities were computed with other params.
        mmpo.preference_sets.PreferenceSetError: the test file is missing or invalid.
    """
    table = read_preference_set(test_path, "train", allow_empty=True)
    present = [c for c in reference_logps.COLUMNS if c in table.column_names]
    if not stored_reference:
        table = table.drop_columns(present)
    elif len(present) == len(reference_logps.COLUMNS):
        reference_logps.check_reference_key(test_path, params)
    rows = table.to_pylist()

    if stored_reference and len(present) < len(reference_logps.COLUMNS):
        logger.info(
            "train: computing the reference log-probs of %d test pairs in %s, as training uses stored ones",
            len(rows),
            test_path,
        )
        logps = reference_logps.compute_logps(reference, tokenizer, rows, params, params.batch_size, device)
        for row, values in zip(rows, logps.tolist(), strict=True):
            for column, value in zip(reference_logps.COLUMNS, values, strict=True):
                row[column] = None if math.isnan(value) else value

    return encode_pairs(tokenizer, rows, params.max_length, params.max_prompt_length, hard_labels=False)


def step_records(log_history: list[dict]) -> list[dict]:
    """Return one row per optimiser step: step, epoch, loss, ``LOGGED_METRICS``, ``EVAL_COLUMNS``.

    Evaluation values fill the row of the step they were computed at and are
    None in the other rows, so every row has the same columns.
    """
    rows = {}
    for entry in log_history:
        if "loss" in entry:
            rows[entry["step"]] = (
                {"step": entry["step"], "epoch": entry["epoch"], "loss": entry["loss"]}
                | {key: entry.get(key) for key in LOGGED_METRICS}
                | dict.fromkeys(EVAL_COLUMNS)
            )
    for entry in log_history:
        if EVAL_COLUMNS[0] in entry and entry["step"] in rows:
            rows[entry["step"]].update({key: entry.get(key) for key in EVAL_COLUMNS})
    return list(rows.values())
