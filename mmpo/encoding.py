"""Tokenisation of preference pairs and batch collation.

A sequence is a start token (BOS, or CLS for encoders), the chat-templated
prompt with the generation prompt, the response tokens and an end token (EOS,
or SEP). Texts are tokenised without added special tokens, and the start token
is added only when the template did not write it, so it never appears twice.
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
    margin: float = 0.0
    reference_chosen: float | None = None
    reference_rejected: float | None = None


def boundary_tokens(tokenizer) -> tuple[int | None, int | None]:
    """Return the ids that open and close a sequence: BOS or else CLS, and EOS or else SEP.

    Causal LMs use BOS/EOS; BERT-style encoders, whose classification head
    reads the first token, use CLS/SEP. Either may be None.
    """
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    return start, end


def encode_sequence(
    tokenizer, prompt: list[dict[str, str]], response: str, max_length: int, max_prompt_length: int
) -> tuple[list[int], int] | None:
    """Return ``(token ids, prompt length)``, or None when no response token fits.

    The sequence is [start token] + templated prompt + response + [end token].
    The start token is added only when the chat template did not write it, so
    it never appears twice, and it survives truncation. When the sequence
    exceeds ``max_length`` tokens, the prompt keeps its last tokens within
    ``max_prompt_length`` (start token included), then the response is cut
    from the right.
    """
    start, end = boundary_tokens(tokenizer)
    prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    prefix = [start] if start is not None else []
    if prefix and prompt_ids[:1] == prefix:
        prompt_ids = prompt_ids[1:]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if end is not None:
        response_ids = response_ids + [end]

    if len(prefix) + len(prompt_ids) + len(response_ids) > max_length:
        keep = max(0, max_prompt_length - len(prefix))
        prompt_ids = prompt_ids[len(prompt_ids) - keep :] if keep < len(prompt_ids) else prompt_ids
        response_ids = response_ids[: max(0, max_length - len(prefix) - len(prompt_ids))]
    if not response_ids:
        return None
    return prefix + prompt_ids + response_ids, len(prefix) + len(prompt_ids)


def encode_pairs(
    tokenizer, rows: Sequence[dict[str, Any]], max_length: int, max_prompt_length: int, hard_labels: bool
) -> tuple[list[EncodedPair], int]:
    """Encode preference-set rows; return the pairs and how many were dropped.

    A pair is dropped (and counted) when either response would be cut to no
    tokens. With ``hard_labels`` every target is 1 instead of p_chosen. A
    missing or null ``weight`` is 1 and a missing or null ``margin`` (pairs
    from pairwise judgments) is 0.
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
        weight = 1.0 if row.get("weight") is None else float(row["weight"])
        margin = 0.0 if row.get("margin") is None else float(row["margin"])
        encoded.append(
            EncodedPair(
                chosen[0],
                chosen[1],
                rejected[0],
                rejected[1],
                target,
                weight,
                margin,
                row.get("reference_chosen_logp"),
                row.get("reference_rejected_logp"),
            )
        )
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
        margin: (B,) float32 score margins.
        reference_chosen, reference_rejected: (B,) float32 precomputed
        reference log-probs, present only when every pair has them.
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
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "response_mask": response_mask,
        "p_chosen": torch.tensor([p.p_chosen for p in pairs], dtype=torch.float32),
        "weight": torch.tensor([p.weight for p in pairs], dtype=torch.float32),
        "margin": torch.tensor([p.margin for p in pairs], dtype=torch.float32),
    }
    if all(p.reference_chosen is not None and p.reference_rejected is not None for p in pairs):
        batch["reference_chosen"] = torch.tensor([p.reference_chosen for p in pairs], dtype=torch.float32)
        batch["reference_rejected"] = torch.tensor([p.reference_rejected for p in pairs], dtype=torch.float32)
    return batch
