"""A transformers ``Trainer`` for preference pairs with MMPO and baseline losses.

Building on ``Trainer`` brings gradient accumulation, mixed precision,
checkpointing and resume, and multi-GPU runs through accelerate (DDP,
DeepSpeed, FSDP) without code of our own.

Logged metrics use slash keys: ``rewards/chosen``, ``rewards/rejected``,
``rewards/margins`` (mean z), ``rewards/accuracies`` (share of z > 0),
``targets/p_chosen_mean`` and ``calibration/abs_error`` (mean
|sigmoid(z) - p_chosen|). Train logs carry ``loss`` and these keys, averaged
over the steps since the last log. Evaluation logs carry the same keys with
an ``eval/`` prefix (``eval/loss``, ``eval/rewards/chosen``, ...) plus
``eval/pairs``, computed in float64 over every pair of the eval set:
``eval/loss`` is the weighted mean sum(w * l) / sum(w) and the others are
plain means over pairs, so neither batch size nor weights skew them. The
dict that ``Trainer.evaluate`` returns keeps transformers' ``eval_`` prefix
(``eval_rewards/chosen``), so ``metric_for_best_model`` works as usual.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from transformers import EvalPrediction, Trainer
from transformers.trainer_callback import ProgressCallback

from mmpo.encoding import EncodedPair, collate
from mmpo.losses import pair_loss, weighted_mean
from mmpo.scoring import pair_rewards
from mmpo.targets import stable_sigmoid

LOGGED_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "targets/p_chosen_mean",
    "calibration/abs_error",
)
EVAL_PREFIX = "eval/"


class PairDataset(torch.utils.data.Dataset):
    """Encoded pairs as a map-style dataset."""

    def __init__(self, pairs: list[EncodedPair]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> EncodedPair:
        return self.pairs[index]


class PairCollator:
    """Collate ``EncodedPair`` items into the batch layout of ``mmpo.encoding.collate``."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, pairs: list[EncodedPair]) -> dict[str, torch.Tensor]:
        return collate(pairs, self.pad_token_id)


class QuietProgressCallback(ProgressCallback):
    """A progress bar that shows the latest loss instead of printing every log dict."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.training_bar is not None and logs is not None and "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}")


class PreferenceTrainer(Trainer):
    """Trainer whose loss is a pair loss on z = reward(chosen) - reward(rejected).

    Args:
        objective: ``dpo`` (policy against ``reference``) or ``reward``.
        loss_kind: a kind accepted by ``mmpo.losses.pair_loss``.
        beta: DPO temperature (also IPO's tau).
        label_smoothing: cDPO's epsilon.
        margin_scale: logit units per score unit for the Llama 2 margin loss.
        reference: frozen reference policy for ``dpo``; None for ``reward``
            and for batches that carry precomputed reference log-probs.

    ``compute_metrics`` defaults to ``eval_metrics``, which turns the
    per-pair values of ``prediction_step`` into the eval metrics.

    The loss of a batch is the weighted mean of its per-pair losses, so with
    equal batch sizes the update does not depend on how a batch is split by
    gradient accumulation.
    """

    def __init__(
        self, *args, objective, loss_kind, beta, label_smoothing, margin_scale, reference=None, **kwargs
    ):
        kwargs.setdefault("compute_metrics", eval_metrics)
        super().__init__(*args, **kwargs)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(QuietProgressCallback)
        self.objective, self.loss_kind = objective, loss_kind
        self.beta, self.label_smoothing, self.margin_scale = beta, label_smoothing, margin_scale
        self.reference = reference
        self._sums: dict[str, float] = defaultdict(float)
        self._batches = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected, losses = self._pair_losses(model, inputs)
        loss = weighted_mean(losses, inputs["weight"])
        if model.training:
            self._record(chosen.detach(), rejected.detach(), inputs["p_chosen"])
        return (loss, {"z": chosen - rejected}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Return ``(None, values, targets)`` of one eval batch of B pairs for ``eval_metrics``.

        values: (B, 3) float32, the rewards of chosen and rejected and the
        per-pair loss. targets: (B, 2) float32, p_chosen and weight. The loss
        slot is None because the Trainer would average per-batch losses;
        ``eval_metrics`` computes ``eval/loss`` from the per-pair values.
        """
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            chosen, rejected, losses = self._pair_losses(model, inputs)
        values = torch.stack([chosen, rejected, losses], dim=1).float()
        targets = torch.stack([inputs["p_chosen"], inputs["weight"]], dim=1).float()
        return None, values, targets

    def _pair_losses(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the rewards of chosen and of rejected and the per-pair losses, each shape (B,)."""
        if (
            self.reference is not None
            and next(self.reference.parameters()).device != inputs["input_ids"].device
        ):
            self.reference.to(inputs["input_ids"].device)
        chosen, rejected = pair_rewards(self.objective, model, self.reference, inputs, self.beta)
        losses = pair_loss(
            self.loss_kind,
            chosen - rejected,
            inputs["p_chosen"],
            beta=self.beta,
            label_smoothing=self.label_smoothing,
            margin=inputs["margin"] * self.margin_scale,
        )
        return chosen, rejected, losses

    def _record(self, chosen: torch.Tensor, rejected: torch.Tensor, p_chosen: torch.Tensor) -> None:
        z = chosen - rejected
        values = {
            "rewards/chosen": chosen.mean(),
            "rewards/rejected": rejected.mean(),
            "rewards/margins": z.mean(),
            "rewards/accuracies": (z > 0).float().mean(),
            "targets/p_chosen_mean": p_chosen.float().mean(),
            "calibration/abs_error": (torch.sigmoid(z) - p_chosen).abs().mean(),
        }
        for key, value in values.items():
            self._sums[key] += float(value)
        self._batches += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._batches and "loss" in logs:
            logs.update({key: total / self._batches for key, total in self._sums.items()})
            self._sums.clear()
            self._batches = 0
        # A new dict, so the metrics that evaluate() returns keep the eval_ prefix.
        logs = {_log_key(key): value for key, value in logs.items()}
        super().log(logs, start_time)


def _log_key(key: str) -> str:
    """Return ``eval/<name>`` for transformers' ``eval_<name>`` and other keys unchanged."""
    return EVAL_PREFIX + key.removeprefix("eval_") if key.startswith("eval_") else key


def eval_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Return the loss, ``LOGGED_METRICS`` and pair count over all N eval pairs, in float64.

    Args:
        prediction: ``predictions`` (N, 3): reward of chosen, reward of
            rejected, loss per pair; ``label_ids`` (N, 2): p_chosen, weight,
            as returned batch by batch by ``PreferenceTrainer.prediction_step``.

    The loss is the weighted mean sum(w * l) / sum(w), as in training; the
    other metrics are plain means over pairs.
    """
    values = np.asarray(prediction.predictions, dtype=np.float64).reshape(-1, 3)
    targets = np.asarray(prediction.label_ids, dtype=np.float64).reshape(-1, 2)
    chosen, rejected, losses = values.T
    p_chosen, weight = targets.T
    z = chosen - rejected
    return {
        "loss": float((weight * losses).sum() / weight.sum()),
        "rewards/chosen": float(chosen.mean()),
        "rewards/rejected": float(rejected.mean()),
        "rewards/margins": float(z.mean()),
        "rewards/accuracies": float((z > 0).mean()),
        "targets/p_chosen_mean": float(p_chosen.mean()),
        "calibration/abs_error": float(np.abs(stable_sigmoid(z) - p_chosen).mean()),
        "pairs": len(z),
    }
