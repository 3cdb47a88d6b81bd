"""Evaluate a trained policy or reward model on a preference set."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from mmpo import rewardbench
from mmpo.calibration import accuracy_by_margin, brier_score, calibration_table, expected_calibration_error
from mmpo.encoding import collate, encode_pairs
from mmpo.evaluation_plots import write_evaluation_plots
from mmpo.files import write_parquet
from mmpo.models import load_model, load_tokenizer, select_device
from mmpo.params import EvaluateParams, TrainParams
from mmpo.preference_sets import read_preference_set
from mmpo.rewardbench import section_scores, subset_accuracy
from mmpo.scoring import pair_logits
from mmpo.targets import stable_sigmoid
from mmpo.training import TRAIN_CONFIG

logger = logging.getLogger(__name__)

PREDICTIONS = pa.schema(
    [
        ("prompt_id", pa.string()),
        ("source", pa.string()),
        ("margin", pa.float64()),
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
        ValueError: the saved model does not fit its tokenizer or objective.
    """
    config_path = model_dir / TRAIN_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found; pass the folder the train stage wrote")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    params = TrainParams.from_mapping(config["params"], where=str(config_path))
    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir), params.objective, tokenizer, one_output=False).to(device).eval()
    check_model_fits(model, tokenizer, params.objective, model_dir)
    reference = None
    if config["reference"] is not None:
        reference_path = model_dir / config["reference"]
        name = str(reference_path) if reference_path.exists() else config["reference"]
        reference = load_model(name, params.objective, tokenizer).to(device).eval()
    return params, tokenizer, model, reference


def check_model_fits(model, tokenizer, objective: str, model_dir: Path) -> None:
    """Raise ``ValueError`` naming the mismatch when model, tokenizer and objective disagree.

    Checks that every token id fits the model's embedding, and that a reward
    model has exactly one output.
    """
    vocabulary = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > vocabulary:
        raise ValueError(
            f"{model_dir}: the tokenizer has {len(tokenizer)} tokens but the model embeds only {vocabulary}; "
            "save the tokenizer the model was trained with in the same folder"
        )
    labels = getattr(model.config, "num_labels", None)
    if objective == "reward" and labels != 1:
        raise ValueError(
            f"{model_dir}: a reward model needs a head with 1 output, this one has {labels}; "
            "train it with train.objective: reward"
        )


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


def encode_rows(train_params: TrainParams, tokenizer, rows: list[dict]) -> tuple[list, list[dict], int]:
    """Encode rows one by one; return the pairs, the rows that survived truncation, and the drop count."""
    pairs, kept_rows, dropped = [], [], 0
    for row in rows:
        encoded, lost = encode_pairs(
            tokenizer, [row], train_params.max_length, train_params.max_prompt_length, False
        )
        pairs += encoded
        dropped += lost
        kept_rows += [row] * len(encoded)
    return pairs, kept_rows, dropped


def calibration_metrics(z: np.ndarray, p_chosen: np.ndarray, margin: np.ndarray, params: EvaluateParams):
    """Return calibration metrics and the tables behind the plots.

    Returns:
        ``(metrics, soft_bins, hard_bins, margin_rows)``: ECE and Brier score
        against the soft targets and against hard labels (1 for every
        non-tie pair), and the per-bin and per-bucket rows.
    """
    p_predicted = stable_sigmoid(z)
    decided = p_chosen != 0.5
    hard_p, hard_y = p_predicted[decided], np.ones(int(decided.sum()))
    soft_bins = calibration_table(p_predicted, p_chosen, params.calibration_bins) if len(z) else []
    hard_bins = calibration_table(hard_p, hard_y, params.calibration_bins) if len(hard_p) else []
    margin_rows = accuracy_by_margin(z, margin, p_chosen, list(params.margin_edges))
    metrics = {
        "ece": expected_calibration_error(p_predicted, p_chosen, params.calibration_bins),
        "ece_hard": expected_calibration_error(hard_p, hard_y, params.calibration_bins),
        "brier": brier_score(p_predicted, p_chosen),
        "brier_hard": brier_score(hard_p, hard_y),
        "accuracy_by_margin": {r["bucket"]: r["accuracy"] for r in margin_rows},
    }
    return metrics, soft_bins, hard_bins, margin_rows


def run_evaluate(
    params: EvaluateParams,
    model_dir: Path,
    test_path: Path,
    predictions_path: Path,
    plots_dir: Path | None = None,
) -> dict[str, Any]:
    """Score the test split with the trained model; write per-pair predictions and plots.

    Returns:
        metrics from ``pair_metrics`` and ``calibration_metrics``, plus pairs
        dropped by truncation.

    Raises:
        mmpo.preference_sets.PreferenceSetError: the test split is missing or invalid.
    """
    rows = read_preference_set(test_path, "evaluate", allow_empty=True).to_pylist()
    device = select_device("auto")
    train_params, tokenizer, model, reference = load_trained(model_dir, device)
    pairs, kept_rows, dropped = encode_rows(train_params, tokenizer, rows)

    z = predict_logits(train_params, tokenizer, model, reference, pairs, params.batch_size, device)
    p_chosen = np.array([r["p_chosen"] for r in kept_rows], dtype=np.float64)
    margin = np.array(
        [np.nan if r.get("margin") is None else r["margin"] for r in kept_rows], dtype=np.float64
    )
    metrics = pair_metrics(z, p_chosen)
    calibration, soft_bins, hard_bins, margin_rows = calibration_metrics(z, p_chosen, margin, params)
    metrics.update(calibration)
    metrics["pairs_dropped_truncation"] = dropped
    if not kept_rows:
        logger.warning("evaluate: %s contains no pair, so the metrics are null", test_path)

    table = pa.table(
        {
            "prompt_id": [r["prompt_id"] for r in kept_rows],
            "source": [r.get("source") for r in kept_rows],
            "margin": margin,
            "p_chosen": p_chosen,
            "z": z,
            "p_predicted": stable_sigmoid(z),
        },
        schema=PREDICTIONS,
    )
    write_parquet(table, predictions_path, {"stage": "evaluate", "model": str(model_dir)})
    if plots_dir is not None:
        write_evaluation_plots(Path(plots_dir), soft_bins, hard_bins, margin_rows, stable_sigmoid(z))
    logger.info(
        "evaluate: accuracy %s, cross-entropy %s, ECE %s on %d pairs",
        metrics["accuracy"],
        metrics["cross_entropy"],
        metrics["ece"],
        metrics["pairs"],
    )
    return metrics


def run_rewardbench(params: EvaluateParams, model_dir: Path, path: Path) -> dict[str, Any]:
    """Score a local RewardBench-style file (prompt, chosen, rejected, subset per row).

    Texts may be strings or message lists. Returns per-subset accuracy, the
    weighted section scores and their mean (see ``mmpo.rewardbench``).

    Raises:
        ValueError: the file lacks one of the required columns.
    """
    frame = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_json(path, lines=True)
    missing = [c for c in rewardbench.REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: column(s) {missing} missing; a RewardBench file needs "
            f"{list(rewardbench.REQUIRED_COLUMNS)}"
        )
    rows = [
        rewardbench.pair_row(record, f"{path}:{index}")
        for index, record in enumerate(frame.to_dict("records"), 1)
    ]
    device = select_device("auto")
    train_params, tokenizer, model, reference = load_trained(model_dir, device)
    pairs, kept_rows, dropped = encode_rows(train_params, tokenizer, rows)
    z = predict_logits(train_params, tokenizer, model, reference, pairs, params.batch_size, device)
    subsets = subset_accuracy(z, [r["subset"] for r in kept_rows])
    scores = section_scores({name: value["accuracy"] for name, value in subsets.items()})
    return {"subsets": subsets, **scores, "pairs_dropped_truncation": dropped}
