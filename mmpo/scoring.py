"""Pair logits z from a policy (implicit DPO reward) or a reward model."""

from __future__ import annotations

import torch

from mmpo.losses import reward_logits


def response_logps(model, input_ids: torch.Tensor, attention_mask, response_mask) -> torch.Tensor:
    """Return the summed log-probability of each sequence's response tokens, shape (N,).

    Token t is scored by the logits at position t - 1, in float32, and only
    where ``response_mask`` is set, so prompt and padding tokens never count.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    targets = input_ids[:, 1:]
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    mask = response_mask[:, 1:].to(token_logps.dtype)
    return (token_logps * mask).sum(-1)


def pair_rewards(
    objective: str, model, reference, batch: dict[str, torch.Tensor], beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the rewards of the chosen and of the rejected responses, each shape (B,).

    ``dpo``: the implicit reward beta * (log pi(y|x) - log pi_ref(y|x)), with
    the reference under no grad, or taken from the batch's precomputed
    ``reference_chosen`` / ``reference_rejected``. ``reward``: the one-output
    head's value.
    """
    inputs = (batch["input_ids"], batch["attention_mask"])
    half = batch["input_ids"].shape[0] // 2
    if objective == "reward":
        rewards = model(input_ids=inputs[0], attention_mask=inputs[1]).logits.float().squeeze(-1)
        return rewards[:half], rewards[half:]

    policy = response_logps(model, *inputs, batch["response_mask"])
    if "reference_chosen" in batch:
        ref = torch.cat([batch["reference_chosen"], batch["reference_rejected"]]).to(policy.dtype)
    else:
        with torch.no_grad():
            ref = response_logps(reference, *inputs, batch["response_mask"])
    rewards = beta * (policy - ref)
    return rewards[:half], rewards[half:]


def pair_logits(
    objective: str, model, reference, batch: dict[str, torch.Tensor], beta: float
) -> torch.Tensor:
    """Return the preference logits z = reward(chosen) - reward(rejected), shape (B,).

    For ``dpo`` this equals beta * ((pi_w - ref_w) - (pi_l - ref_l)).
    """
    return reward_logits(*pair_rewards(objective, model, reference, batch, beta))
