"""MMPO losses: cross-entropy of a pair logit against a soft target.

Notation: B pairs per batch; z (B,) is the model's preference logit for
"chosen beats rejected"; p (B,) the target probability p_chosen in [0, 1].

    loss_i = -( p_i * log sigmoid(z_i) + (1 - p_i) * log sigmoid(-z_i) )

p = 1 gives the standard DPO / Bradley-Terry loss -log sigmoid(z); z = 0 gives
ln 2 for any p. Maths run in at least float32, also when the model runs in bf16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_vector(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """Squeeze a trailing singleton dim ((B, 1) -> (B,)) and insist on shape (B,)."""
    if tensor.dim() == 2 and tensor.shape[-1] == 1:
        tensor = tensor.squeeze(-1)
    if tensor.dim() != 1:
        raise ValueError(f"{name}: expected shape (B,) or (B, 1), got {tuple(tensor.shape)}")
    return tensor if tensor.dtype == torch.float64 else tensor.float()


def mmpo_loss(z: torch.Tensor, p_chosen: torch.Tensor) -> torch.Tensor:
    """Return the per-pair MMPO loss, shape (B,).

    Args:
        z: preference logits, shape (B,) or (B, 1).
        p_chosen: soft targets, shape (B,) or (B, 1), in [0, 1].

    Raises:
        ValueError: shapes differ after squeezing, so no silent (B, B) broadcast.
    """
    z = _as_vector("z", z)
    p_chosen = _as_vector("p_chosen", p_chosen).to(z.dtype)
    if z.shape != p_chosen.shape:
        raise ValueError(f"z has shape {tuple(z.shape)} but p_chosen has {tuple(p_chosen.shape)}")
    return -(p_chosen * F.logsigmoid(z) + (1.0 - p_chosen) * F.logsigmoid(-z))


def dpo_logits(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Return z = beta * ((pi_w - ref_w) - (pi_l - ref_l)), shape (B,).

    Args:
        policy_chosen, policy_rejected, reference_chosen, reference_rejected:
            summed response log-probabilities (nats), each shape (B,).
        beta: DPO temperature, > 0.
    """
    tensors = [
        _as_vector(name, t)
        for name, t in (
            ("policy_chosen", policy_chosen),
            ("policy_rejected", policy_rejected),
            ("reference_chosen", reference_chosen),
            ("reference_rejected", reference_rejected),
        )
    ]
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"log-probability shapes differ: {[tuple(t.shape) for t in tensors]}")
    policy_w, policy_l, reference_w, reference_l = tensors
    return beta * ((policy_w - reference_w) - (policy_l - reference_l))


def reward_logits(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> torch.Tensor:
    """Return z = r(x, y_w) - r(x, y_l), shape (B,), from rewards of shape (B,) or (B, 1)."""
    reward_chosen = _as_vector("reward_chosen", reward_chosen)
    reward_rejected = _as_vector("reward_rejected", reward_rejected)
    if reward_chosen.shape != reward_rejected.shape:
        raise ValueError(
            f"reward shapes differ: {tuple(reward_chosen.shape)} vs {tuple(reward_rejected.shape)}"
        )
    return reward_chosen - reward_rejected


def ipo_loss(z: torch.Tensor, beta: float) -> torch.Tensor:
    """Return the IPO loss (h - 1 / (2 beta))^2 per pair, shape (B,), with h = z / beta.

    h is the log-ratio difference of a policy; IPO regresses it to 1 / (2 beta)
    instead of pushing it to infinity (Azar et al., 2023).
    """
    return (_as_vector("z", z) / beta - 1.0 / (2.0 * beta)) ** 2


def margin_loss(z: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """Return -log sigmoid(z - margin) per pair, shape (B,): the Llama 2 reward-model loss.

    Args:
        z: preference logits, shape (B,).
        margin: required gap per pair in logit units, shape (B,), >= 0.
    """
    z = _as_vector("z", z)
    margin = _as_vector("margin", margin).to(z.dtype)
    if z.shape != margin.shape:
        raise ValueError(f"z has shape {tuple(z.shape)} but margin has {tuple(margin.shape)}")
    return -F.logsigmoid(z - margin)


def pair_loss(
    kind: str,
    z: torch.Tensor,
    p_chosen: torch.Tensor,
    *,
    beta: float,
    label_smoothing: float = 0.0,
    margin: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the per-pair loss of ``kind``, shape (B,).

    Kinds: ``mmpo`` (cross-entropy against p_chosen), ``hard`` (p = 1: DPO for
    a policy, Bradley-Terry for a reward model), ``cdpo`` (p = 1 -
    ``label_smoothing`` for every pair), ``ipo``, ``margin`` (Llama 2, with
    ``margin`` per pair).

    Raises:
        ValueError: unknown kind, or ``margin`` missing for the margin loss.
    """
    if kind == "mmpo":
        return mmpo_loss(z, p_chosen)
    if kind == "hard":
        return mmpo_loss(z, torch.ones_like(_as_vector("p_chosen", p_chosen)))
    if kind == "cdpo":
        return mmpo_loss(z, torch.full_like(_as_vector("p_chosen", p_chosen), 1.0 - label_smoothing))
    if kind == "ipo":
        return ipo_loss(z, beta)
    if kind == "margin":
        if margin is None:
            raise ValueError("the margin loss needs a margin per pair")
        return margin_loss(z, margin)
    raise ValueError(f"unknown loss {kind!r}; use mmpo, hard, cdpo, ipo or margin")


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Return sum(w * l) / sum(w) over a batch, or the plain mean without weights.

    Raises:
        ValueError: the shapes differ, or the weights of the batch sum to 0 or less.
    """
    losses = _as_vector("losses", losses)
    if weights is None:
        return losses.mean()
    weights = _as_vector("weights", weights).to(losses.dtype)
    if weights.shape != losses.shape:
        raise ValueError(f"weights have shape {tuple(weights.shape)} but losses have {tuple(losses.shape)}")
    total = weights.sum()
    if not total > 0:
        raise ValueError(f"the weights of a batch sum to {float(total)}; weights must be positive")
    return (weights * losses).sum() / total
