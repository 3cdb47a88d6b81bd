"""Training of MMPO policies (DPO form) and reward models with ``PreferenceTrainer``.

``run_train`` encodes the train split, builds ``TrainingArguments`` from the
params, trains, and saves the model, tokenizer, resolved config and a
per-step log. Given a test split, it also evaluates on it during training
(``train.eval_steps``, see ``mmpo.eval_split``). Under ``accelerate launch``
the same code runs on several GPUs.
"""

from __future__ import annotations

import copy
import csv
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import TrainingArguments

from mmpo import __version__, reference_logps
from mmpo.encoding import encode_pairs
from mmpo.eval_split import EVAL_COLUMNS, encode_eval_split, step_records
from mmpo.files import fingerprint, write_json
from mmpo.models import (
    TINY,
    build_byte_tokenizer,
    build_tiny_model,
    load_model,
    load_tokenizer,
    select_device,
)
from mmpo.params import TrainParams, params_to_dict
from mmpo.preference_sets import read_preference_set
from mmpo.trainer import EVAL_PREFIX, PairCollator, PairDataset, PreferenceTrainer

logger = logging.getLogger(__name__)

REFERENCE_FOLDER = "reference"
TRAIN_CONFIG = "train_config.json"
CHECKPOINTS = "checkpoints"


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
    if params.lora_rank > 0:
        model = add_lora(model, params)
    return tokenizer, model, reference


def add_lora(model, params: TrainParams):
    """Wrap ``model`` with LoRA adapters on every linear layer; the head stays trainable.

    Raises:
        ImportError: ``peft`` is not installed.
    """
    try:
        import peft
    except ImportError as error:
        raise ImportError("train.lora_rank > 0 needs the peft package: pip install peft") from error
    task = peft.TaskType.CAUSAL_LM if params.objective == "dpo" else peft.TaskType.SEQ_CLS
    config = peft.LoraConfig(
        task_type=task, r=params.lora_rank, lora_alpha=params.lora_alpha, target_modules="all-linear"
    )
    model = peft.get_peft_model(model, config)
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("train: LoRA rank %d trains %d of %d parameters", params.lora_rank, trainable, total)
    return model


def training_arguments(
    params: TrainParams, model_dir: Path, device: torch.device, evaluate: bool = False
) -> TrainingArguments:
    """Return ``TrainingArguments`` for ``params``; checkpoints go to ``model_dir/checkpoints``.

    With ``evaluate`` and ``params.eval_steps`` > 0 the Trainer evaluates
    every ``eval_steps`` optimiser steps; ``train_pairs`` adds the evaluation
    after the last step.
    """
    periodic = evaluate and params.eval_steps is not None and params.eval_steps > 0
    return TrainingArguments(
        output_dir=str(model_dir / CHECKPOINTS),
        per_device_train_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        num_train_epochs=params.epochs,
        max_steps=params.max_steps if params.max_steps > 0 else -1,
        learning_rate=params.learning_rate,
        weight_decay=params.weight_decay,
        max_grad_norm=params.max_grad_norm,
        lr_scheduler_type=params.lr_scheduler,
        bf16=params.precision == "bf16",
        fp16=params.precision == "fp16",
        use_cpu=device.type == "cpu",
        seed=params.seed,
        data_seed=params.seed,
        logging_steps=1,
        save_strategy="steps" if params.save_steps > 0 else "no",
        save_steps=params.save_steps if params.save_steps > 0 else 500,
        eval_strategy="steps" if periodic else "no",
        eval_steps=params.eval_steps if periodic else None,
        per_device_eval_batch_size=params.batch_size,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def train_pairs(
    params: TrainParams, model, reference, tokenizer, pairs, model_dir: Path, device, eval_pairs=None
):
    """Train ``model`` on encoded pairs; return the trainer and one log record per optimiser step.

    With ``eval_pairs`` the trainer evaluates on them every
    ``params.eval_steps`` steps and after the last step, and the records
    carry the ``eval/`` columns (None where a step was not evaluated).
    """
    trainer = PreferenceTrainer(
        model=model,
        args=training_arguments(params, model_dir, device, evaluate=eval_pairs is not None),
        train_dataset=PairDataset(pairs),
        eval_dataset=PairDataset(eval_pairs) if eval_pairs is not None else None,
        data_collator=PairCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        objective=params.objective,
        loss_kind=params.loss,
        beta=params.beta,
        label_smoothing=params.label_smoothing,
        margin_scale=params.margin_scale,
        reference=reference,
    )
    resume = params.resume and any((model_dir / CHECKPOINTS).glob("checkpoint-*"))
    if params.resume and not resume:
        logger.warning(
            "train.resume is true but %s has no checkpoint: starting from scratch", model_dir / CHECKPOINTS
        )
    trainer.train(resume_from_checkpoint=True if resume else None)
    if eval_pairs is not None and _last_eval_step(trainer.state.log_history) != trainer.state.global_step:
        trainer.evaluate()
    return trainer, step_records(trainer.state.log_history)


def _last_eval_step(log_history: list[dict]) -> int | None:
    steps = [entry["step"] for entry in log_history if EVAL_COLUMNS[0] in entry]
    return steps[-1] if steps else None


def run_train(
    params: TrainParams, train_path: Path, model_dir: Path, log_path: Path, test_path: Path | None = None
) -> dict[str, Any]:
    """Train on the train split and save model, tokenizer, resolved config and log.

    Args:
        test_path: a test split to evaluate on during training, as
            ``params.eval_steps`` sets; None trains without evaluation.

    Returns:
        metrics: pairs used and dropped, steps, first and last loss, mean loss
        and accuracy of the last epoch; with evaluation also ``eval/pairs``,
        ``eval/pairs_dropped_truncation``, ``eval/step`` and the ``eval/``
        metrics of the last evaluation.

    Raises:
        ValueError: the train split contains no usable pair.
    """
    logger.info("train: %s", params)
    device = select_device(params.device)
    table = read_preference_set(train_path, "train")
    precomputed = params.objective == "dpo" and all(c in table.column_names for c in reference_logps.COLUMNS)
    if precomputed:
        reference_logps.check_reference_key(train_path, params)
    rows = table.to_pylist()
    tokenizer, model, reference = prepare_models(params)
    reference_name = _save_reference(params, reference, model_dir)
    eval_pairs, eval_dropped = _eval_pairs(params, test_path, tokenizer, reference, precomputed, device)
    if precomputed:
        logger.info(
            "train: using the reference log-probs stored in %s; no reference model in memory", train_path
        )
        reference = None
    pairs, dropped = encode_pairs(
        tokenizer, rows, params.max_length, params.max_prompt_length, hard_labels=False
    )
    if not pairs:
        raise ValueError(
            f"{train_path}: no pair to train on ({len(rows)} rows, {dropped} dropped by truncation)"
        )
    logger.info(
        "train: %d pairs on %s, objective=%s loss=%s", len(pairs), device, params.objective, params.loss
    )

    trainer, history = train_pairs(params, model, reference, tokenizer, pairs, model_dir, device, eval_pairs)
    if params.lora_rank > 0:
        trainer.model = trainer.model.merge_and_unload()  # evaluation loads a plain model
    trainer.save_model(str(model_dir))  # the model and tokenizer, from the main process only
    if trainer.is_world_process_zero():
        _save_config(params, reference_name, model_dir, train_path)
        _write_log(history, log_path)

    last_epoch = [h for h in history if h["epoch"] > history[-1]["epoch"] - 1]
    metrics = {
        "pairs": len(pairs),
        "pairs_dropped_truncation": dropped,
        "steps": len(history),
        "loss_first": history[0]["loss"],
        "loss_last": history[-1]["loss"],
        "last_epoch_loss": sum(h["loss"] for h in last_epoch) / len(last_epoch),
        "last_epoch_accuracy": sum(h["rewards/accuracies"] for h in last_epoch) / len(last_epoch),
        "device": device.type,
    }
    if eval_pairs is not None:
        metrics.update(_last_eval_metrics(trainer.state.log_history, eval_dropped))
    logger.info("train: done, last-epoch loss %.4f", metrics["last_epoch_loss"])
    return metrics


def _eval_pairs(params, test_path: Path | None, tokenizer, reference, stored_reference: bool, device):
    """Return ``(eval pairs or None, pairs dropped by truncation)``; None turns evaluation off."""
    if test_path is None:
        return None, 0
    if params.eval_steps is None:
        logger.info("train: train.eval_steps is null, so %s is not evaluated during training", test_path)
        return None, 0
    pairs, dropped = encode_eval_split(params, test_path, tokenizer, reference, stored_reference, device)
    if not pairs:
        logger.warning("train: %s contains no usable pair, so training runs without evaluation", test_path)
        return None, dropped
    return pairs, dropped


def _last_eval_metrics(log_history: list[dict], dropped: int) -> dict[str, Any]:
    last = [entry for entry in log_history if EVAL_COLUMNS[0] in entry][-1]
    return {
        f"{EVAL_PREFIX}pairs": last[f"{EVAL_PREFIX}pairs"],
        f"{EVAL_PREFIX}pairs_dropped_truncation": dropped,
        f"{EVAL_PREFIX}step": last["step"],
    } | {key: last[key] for key in EVAL_COLUMNS}


def _save_reference(params, reference, model_dir: Path) -> str | None:
    """Return how evaluation finds the reference: a folder in ``model_dir``, a model id, or None.

    A model built from a config exists nowhere else, so its initial weights
    are saved now, before training changes the policy they were copied from.
    """
    if reference is None:
        return None
    if params.model != TINY:
        return params.model
    reference.save_pretrained(model_dir / REFERENCE_FOLDER)
    return REFERENCE_FOLDER


def _save_config(params, reference_name: str | None, model_dir: Path, train_path: Path) -> None:
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
