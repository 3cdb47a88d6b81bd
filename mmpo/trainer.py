"""A transformers ``Trainer`` for preference pairs with MMPO and baseline losses.

Building on ``Trainer`` brings gradient accumulation, mixed precision,
checkpointing and resume, and multi-GPU runs through accelerate (DDP,
DeepSpeed, FSDP) without code of our own.

Logged metrics use slash keys: ``rewards/chosen``, ``rewards/rejected``,
``rewards/margins`` (mean z), ``rewards/accuracies`` (share of z > 0),
``targets/p_chosen_mean`` and ``calibration/abs_error`` (mean
|sigmoid(z) - p_chosen|), averaged over the steps since the last log.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from transformers import Trainer
from transformers.trainer_callback import ProgressCallback

from mmpo.encoding import EncodedPair, collate
from mmpo.losses import pair_loss, weighted_mean
from mmpo.scoring import pair_rewards

LOGGED_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "targets/p_chosen_mean",
    "calibration/abs_error",
)


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
        reference: frozen reference policy for ``dpo``; None for ``reward``.

    The loss of a batch is the weighted mean of its per-pair losses, so with
    equal batch sizes the update does not depend on how a batch is split by
    gradient accumulation.
    """

    def __init__(
        self, *args, objective, loss_kind, beta, label_smoothing, margin_scale, reference=None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(QuietProgressCallback)
        self.objective, self.loss_kind = objective, loss_kind
        self.beta, self.label_smoothing, self.margin_scale = beta, label_smoothing, margin_scale
        self.reference = reference
        self._sums: dict[str, float] = defaultdict(float)
        self._batches = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if (
            self.reference is not None
            and next(self.reference.parameters()).device != inputs["input_ids"].device
        ):
            self.reference.to(inputs["input_ids"].device)
        chosen, rejected = pair_rewards(self.objective, model, self.reference, inputs, self.beta)
        z = chosen - rejected
        losses = pair_loss(
            self.loss_kind,
            z,
            inputs["p_chosen"],
            beta=self.beta,
            label_smoothing=self.label_smoothing,
            margin=inputs["margin"] * self.margin_scale,
        )
        loss = weighted_mean(losses, inputs["weight"])
        if model.training:
            self._record(chosen.detach(), rejected.detach(), inputs["p_chosen"])
        return (loss, {"z": z}) if return_outputs else loss

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
        super().log(logs, start_time)
