"""Training loop for MMPO policies (DPO form) and reward models.

A plain torch loop: AdamW, gradient clipping, a seeded shuffle per epoch.
TODO: move onto transformers' Trainer for gradient accumulation,
mixed precision, multi-GPU and checkpoint resume; this loop has none of them.
"""

from __future__ import annotations

import copy
import csv
import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from mmpo import __version__
from mmpo.encoding import EncodedPair, collate, encode_pairs
from mmpo.files import fingerprint, write_json
from mmpo.losses import mmpo_loss
from mmpo.models import (
    TINY,
    build_byte_tokenizer,
    build_tiny_model,
    load_model,
    load_tokenizer,
    select_device,
)
from mmpo.params import TrainParams, params_to_dict
from mmpo.scoring import pair_logits

logger = logging.getLogger(__name__)

REFERENCE_FOLDER = "reference"
TRAIN_CONFIG = "train_config.json"


def prepare_models(params: TrainParams):
    """Return ``(tokenizer, model, reference)``; reference is None for reward models."""
    if params.model == TINY:
        tokenizer = build_byte_tokenizer()
        model = build_tiny_model(params.objective, tokenizer, params.tiny, params.max_length, params.seed)
    else:
        tokenizer = load_tokenizer(params.model)
        torch.manual_seed(params.seed)  # seeds a freshly initialised reward head
        model = load_model(params.model, params.objective, tokenizer)
    reference = None
    if params.objective == "dpo":
        reference = copy.deepcopy(model).eval()
        reference.requires_grad_(False)
    return tokenizer, model, reference


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Return sum(w * loss) / sum(w) over a batch; losses and weights have shape (B,).

    With every weight 1 this is the plain mean, so unweighted sets train as before.

    Raises:
        ValueError: the shapes differ or the weights sum to 0 or less.
    """
    weights = weights.to(losses.dtype)
    if weights.shape != losses.shape:
        raise ValueError(f"weights have shape {tuple(weights.shape)} but losses have {tuple(losses.shape)}")
    total = weights.sum()
    if not total > 0:
        raise ValueError(f"the weights of a batch sum to {float(total)}; weights must be positive")
    return (losses * weights).sum() / total


def _batches(pairs: list[EncodedPair], batch_size: int, generator: torch.Generator):
    order = torch.randperm(len(pairs), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        yield [pairs[i] for i in order[start : start + batch_size]]


def train_steps(params: TrainParams, model, reference, pairs, pad_token_id: int, device) -> list[dict]:
    """Run ``params.epochs`` passes over ``pairs``; return one log record per step."""
    model.to(device).train()
    if reference is not None:
        reference.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    generator = torch.Generator().manual_seed(params.seed)
    history = []
    steps_per_epoch = -(-len(pairs) // params.batch_size)
    progress = tqdm(total=params.epochs * steps_per_epoch, desc="train", unit="step")
    for epoch in range(params.epochs):
        for batch_pairs in _batches(pairs, params.batch_size, generator):
            batch = {k: v.to(device) for k, v in collate(batch_pairs, pad_token_id).items()}
            z = pair_logits(params.objective, model, reference, batch, params.beta)
            loss = weighted_mean(mmpo_loss(z, batch["p_chosen"]), batch["weight"])

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if params.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
            optimizer.step()

            history.append(
                {
                    "step": len(history) + 1,
                    "epoch": epoch + 1,
                    "loss": float(loss.detach()),
                    "accuracy": float((z.detach() > 0).float().mean()),
                    "z_mean": float(z.detach().mean()),
                    "p_chosen_mean": float(batch["p_chosen"].mean()),
                }
            )
            progress.update(1)
            progress.set_postfix(loss=f"{history[-1]['loss']:.4f}")
    progress.close()
    return history


def run_train(params: TrainParams, train_path: Path, model_dir: Path, log_path: Path) -> dict[str, Any]:
    """Train on the train split and save model, tokenizer, resolved config and log.

    Returns:
        metrics: pairs used and dropped, steps, first and last loss, mean loss
        and accuracy of the last epoch.

    Raises:
        ValueError: the train split contains no usable pair.
    """
    logger.info("train: %s", params)
    device = select_device(params.device)
    rows = pq.read_table(train_path).to_pylist()
    tokenizer, model, reference = prepare_models(params)
    pairs, dropped = encode_pairs(
        tokenizer, rows, params.max_length, params.max_prompt_length, hard_labels=params.loss == "hard"
    )
    if not pairs:
        raise ValueError(
            f"{train_path}: no pair to train on ({len(rows)} rows, {dropped} dropped by truncation)"
        )
    logger.info(
        "train: %d pairs on %s, objective=%s loss=%s", len(pairs), device, params.objective, params.loss
    )

    history = train_steps(params, model, reference, pairs, tokenizer.pad_token_id, device)
    _save(params, model, reference, tokenizer, model_dir, train_path)
    _write_log(history, log_path)

    last_epoch = [h for h in history if h["epoch"] == params.epochs]
    metrics = {
        "pairs": len(pairs),
        "pairs_dropped_truncation": dropped,
        "steps": len(history),
        "loss_first": history[0]["loss"],
        "loss_last": history[-1]["loss"],
        "last_epoch_loss": sum(h["loss"] for h in last_epoch) / len(last_epoch),
        "last_epoch_accuracy": sum(h["accuracy"] for h in last_epoch) / len(last_epoch),
        "device": device.type,
    }
    logger.info("train: done, last-epoch loss %.4f", metrics["last_epoch_loss"])
    return metrics


def _save(params, model, reference, tokenizer, model_dir: Path, train_path: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    reference_name = None
    if reference is not None:
        # A model built from a config exists nowhere else, so its initial
        # weights are saved as the reference; a named model is reloaded.
        if params.model == TINY:
            reference.cpu().save_pretrained(model_dir / REFERENCE_FOLDER)
            reference_name = REFERENCE_FOLDER
        else:
            reference_name = params.model
    write_json(
        {
            "params": params_to_dict(params),
            "reference": reference_name,
            "train_fingerprint": fingerprint(train_path),
            "mmpo_version": __version__,
        },
        model_dir / TRAIN_CONFIG,
    )


def _write_log(history: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
