"""Tokenisation of preference pairs and batch collation.

A sequence is the chat-templated prompt (with the generation prompt) followed
by the response tokens and eos. Texts are tokenised without added special
tokens, since the template already writes any BOS, so no BOS appears twice.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

import torch

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EncodedPair:
    """Token ids of one pair; the response starts at ``*_prompt_length``."""

    chosen_ids: list[int]
    chosen_prompt_length: int
    rejected_ids: list[int]
    rejected_prompt_length: int
    p_chosen: float
    weight: float = 1.0


def encode_sequence(
    tokenizer, prompt: list[dict[str, str]], response: str, max_length: int, max_prompt_length: int
) -> tuple[list[int], int] | None:
    """Return ``(token ids, prompt length)``, or None when no response token fits.

    When prompt and response exceed ``max_length`` tokens, the prompt keeps its
    last ``max_prompt_length`` tokens, then the response is cut from the right.
    """
    prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response_ids = response_ids + [tokenizer.eos_token_id]

    if len(prompt_ids) + len(response_ids) > max_length:
        prompt_ids = prompt_ids[-max_prompt_length:]
        response_ids = response_ids[: max_length - len(prompt_ids)]
    if not response_ids:
        return None
    return prompt_ids + response_ids, len(prompt_ids)


def encode_pairs(
    tokenizer, rows: Sequence[dict[str, Any]], max_length: int, max_prompt_length: int, hard_labels: bool
) -> tuple[list[EncodedPair], int]:
    """Encode preference-set rows; return the pairs and how many were dropped.

    A pair is dropped (and counted) when either response would be cut to no
    tokens. With ``hard_labels`` every target is 1 instead of p_chosen. A row
    without a ``weight`` column, or with a null weight, gets weight 1.
    """
    encoded, dropped = [], 0
    for row in rows:
        chosen = encode_sequence(
            tokenizer, row["prompt"], row["chosen"][-1]["content"], max_length, max_prompt_length
        )
        rejected = encode_sequence(
            tokenizer, row["prompt"], row["rejected"][-1]["content"], max_length, max_prompt_length
        )
        if chosen is None or rejected is None:
            dropped += 1
            continue
        target = 1.0 if hard_labels else float(row["p_chosen"])
        weight = row.get("weight")
        weight = 1.0 if weight is None else float(weight)
        encoded.append(EncodedPair(chosen[0], chosen[1], rejected[0], rejected[1], target, weight))
    if dropped:
        logger.warning("dropped %d pair(s) whose response would be truncated to nothing", dropped)
    return encoded, dropped


def collate(pairs: Sequence[EncodedPair], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Stack B pairs into one right-padded batch of 2B sequences.

    Returns:
        input_ids, attention_mask, response_mask: (2B, T); rows 0..B-1 are the
        chosen sequences, rows B..2B-1 the rejected ones. response_mask marks
        response tokens (not prompt, not padding).
        p_chosen: (B,) float32 targets.
        weight: (B,) float32 loss weights.
    """
    sequences = [(p.chosen_ids, p.chosen_prompt_length) for p in pairs]
    sequences += [(p.rejected_ids, p.rejected_prompt_length) for p in pairs]
    width = max(len(ids) for ids, _ in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    response_mask = torch.zeros((len(sequences), width), dtype=torch.bool)
    for row, (ids, prompt_length) in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
        response_mask[row, prompt_length : len(ids)] = True
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "response_mask": response_mask,
        "p_chosen": torch.tensor([p.p_chosen for p in pairs], dtype=torch.float32),
        "weight": torch.tensor([p.weight for p in pairs], dtype=torch.float32),
    }
