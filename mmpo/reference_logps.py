"""Precomputed reference log-probabilities for DPO-form training.

The reference policy's summed response log-probabilities of chosen and
rejected are stored as two float64 columns of the preference set, with a key
of what produced them (reference model and tokenisation params) in the file
metadata. Training on such a file keeps no reference model in memory, and a
file whose key does not match the train params is rejected, never reused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from mmpo.encoding import collate, encode_pairs
from mmpo.files import read_metadata, write_parquet
from mmpo.models import TINY
from mmpo.params import TrainParams
from mmpo.scoring import response_logps

COLUMNS = ("reference_chosen_logp", "reference_rejected_logp")
METADATA_FIELD = "reference_logps"


class StaleReferenceError(ValueError):
    """Stored reference log-probabilities were computed with other params."""


def reference_key(params: TrainParams) -> dict[str, Any]:
    """Return what determines the reference log-probabilities: model and tokenisation."""
    return {
        "model": params.model,
        "tiny": dataclasses.asdict(params.tiny) if params.model == TINY else None,
        "seed": params.seed if params.model == TINY else None,  # seeds the tiny reference's weights
        "max_length": params.max_length,
        "max_prompt_length": params.max_prompt_length,
    }


def check_reference_key(path: Path, params: TrainParams) -> None:
    """Raise ``StaleReferenceError`` unless ``path`` stores log-probs made for ``params``."""
    stored = (read_metadata(path) or {}).get(METADATA_FIELD)
    expected = reference_key(params)
    if stored != expected:
        raise StaleReferenceError(
            f"{path}: reference log-probabilities were computed for {stored}, but the train params "
            f"give {expected}; recompute them with `mmpo reference` or train on the file without them"
        )


@torch.no_grad()
def compute_logps(
    reference, tokenizer, rows: list[dict], params: TrainParams, batch_size: int, device
) -> np.ndarray:
    """Return reference log-probs, shape (N, 2) float64 (chosen, rejected).

    A row is NaN where truncation drops the pair.
    """
    result = np.full((len(rows), 2), np.nan)
    encoded = []
    for index, row in enumerate(rows):
        pairs, _ = encode_pairs(tokenizer, [row], params.max_length, params.max_prompt_length, False)
        encoded += [(index, pair) for pair in pairs]
    reference.to(device).eval()
    for start in tqdm(range(0, len(encoded), batch_size), desc="reference", unit="batch"):
        chunk = encoded[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate([p for _, p in chunk], tokenizer.pad_token_id).items()}
        logps = response_logps(reference, batch["input_ids"], batch["attention_mask"], batch["response_mask"])
        logps = logps.double().cpu().numpy().reshape(2, len(chunk)).T
        result[[index for index, _ in chunk]] = logps
    return result


def write_with_reference(
    table: pa.Table, logps: np.ndarray, source: Path, out: Path, params: TrainParams
) -> None:
    """Write ``table`` plus the two reference columns, keyed in the metadata, to ``out``."""
    for column in COLUMNS:
        if column in table.column_names:
            table = table.drop_columns([column])
    for position, column in enumerate(COLUMNS):
        values = pa.array(logps[:, position], pa.float64(), mask=np.isnan(logps[:, position]))
        table = table.append_column(column, values)
    metadata = {**(read_metadata(source) or {}), METADATA_FIELD: reference_key(params)}
    write_parquet(table, out, metadata)
