"""Evaluate a trained policy or reward model on a preference set."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from mmpo.encoding import collate, encode_pairs
from mmpo.files import write_parquet
from mmpo.models import load_model, load_tokenizer, select_device
from mmpo.params import EvaluateParams, TrainParams
from mmpo.scoring import pair_logits
from mmpo.targets import stable_sigmoid
from mmpo.training import TRAIN_CONFIG

logger = logging.getLogger(__name__)

PREDICTIONS = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("p_chosen", pa.float64()),
        ("z", pa.float64()),
        ("p_predicted", pa.float64()),
    ]
)


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    """Return log sigmoid(z) in float64 without overflow."""
    return -np.logaddexp(0.0, -z)


def pair_metrics(z: np.ndarray, p_chosen: np.ndarray) -> dict[str, Any]:
    """Return accuracy and cross-entropies of logits ``z`` against targets ``p_chosen``.

    Args:
        z: preference logits, shape (N,).
        p_chosen: targets, shape (N,); pairs with p_chosen == 0.5 are ties and
            are left out of accuracy and of the hard-label cross-entropy.

    Returns:
        pairs, ties, accuracy (share of non-tie pairs with z > 0),
        cross_entropy (mean, against p_chosen, nats), cross_entropy_hard
        (mean -log sigmoid(z) over non-tie pairs), p_predicted_mean, p_chosen_mean.
    """
    z, p_chosen = np.asarray(z, np.float64), np.asarray(p_chosen, np.float64)
    soft = -(p_chosen * _log_sigmoid(z) + (1.0 - p_chosen) * _log_sigmoid(-z))
    decided = p_chosen != 0.5
    none = None  # JSON has no NaN; an empty split gives null metrics
    return {
        "pairs": int(len(z)),
        "ties": int((~decided).sum()),
        "accuracy": float((z[decided] > 0).mean()) if decided.any() else none,
        "cross_entropy": float(soft.mean()) if len(z) else none,
        "cross_entropy_hard": float(-_log_sigmoid(z[decided]).mean()) if decided.any() else none,
        "p_predicted_mean": float(stable_sigmoid(z).mean()) if len(z) else none,
        "p_chosen_mean": float(p_chosen.mean()) if len(z) else none,
    }


def load_trained(model_dir: Path, device: torch.device):
    """Return ``(train params, tokenizer, model, reference)`` saved by the train stage.

    Raises:
        FileNotFoundError: ``model_dir`` has no train config, so it was not
            written by the train stage.
    """
    config_path = model_dir / TRAIN_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found; pass the folder the train stage wrote")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    params = TrainParams.from_mapping(config["params"], where=str(config_path))
    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir), params.objective, tokenizer).to(device).eval()
    reference = None
    if config["reference"] is not None:
        reference_path = model_dir / config["reference"]
        name = str(reference_path) if reference_path.exists() else config["reference"]
        reference = load_model(name, params.objective, tokenizer).to(device).eval()
    return params, tokenizer, model, reference


@torch.no_grad()
def predict_logits(
    params: TrainParams, tokenizer, model, reference, pairs, batch_size: int, device
) -> np.ndarray:
    """Return z, shape (N,), for encoded pairs, in batches of ``batch_size``."""
    logits = []
    for start in tqdm(range(0, len(pairs), batch_size), desc="evaluate", unit="batch"):
        batch = {
            k: v.to(device)
            for k, v in collate(pairs[start : start + batch_size], tokenizer.pad_token_id).items()
        }
        logits.append(pair_logits(params.objective, model, reference, batch, params.beta).double().cpu())
    return torch.cat(logits).numpy() if logits else np.zeros(0)


def run_evaluate(
    params: EvaluateParams, model_dir: Path, test_path: Path, predictions_path: Path
) -> dict[str, Any]:
    """Score the test split with the trained model; write per-pair predictions.

    Returns:
        metrics from ``pair_metrics`` plus pairs dropped by truncation.
    """
    device = select_device("auto")
    train_params, tokenizer, model, reference = load_trained(model_dir, device)
    rows = pq.read_table(test_path).to_pylist()
    kept_rows = []
    pairs, dropped = [], 0
    for row in rows:  # encode one by one to know which rows survive truncation
        encoded, lost = encode_pairs(
            tokenizer, [row], train_params.max_length, train_params.max_prompt_length, False
        )
        pairs += encoded
        dropped += lost
        kept_rows += [row] * len(encoded)

    z = predict_logits(train_params, tokenizer, model, reference, pairs, params.batch_size, device)
    p_chosen = np.array([r["p_chosen"] for r in kept_rows], dtype=np.float64)
    metrics = pair_metrics(z, p_chosen)
    metrics["pairs_dropped_truncation"] = dropped
    if not kept_rows:
        logger.warning("evaluate: %s contains no pair, so the metrics are null", test_path)

    table = pa.table(
        {
            "prompt_id": [r["prompt_id"] for r in kept_rows],
            "p_chosen": p_chosen,
            "z": z,
            "p_predicted": stable_sigmoid(z),
        },
        schema=PREDICTIONS,
    )
    write_parquet(table, predictions_path, {"stage": "evaluate", "model": str(model_dir)})
    logger.info(
        "evaluate: accuracy %s, cross-entropy %s on %d pairs",
        metrics["accuracy"],
        metrics["cross_entropy"],
        metrics["pairs"],
    )
    return metrics
