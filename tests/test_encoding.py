"""Tokenisation, truncation and collation with the offline byte tokenizer."""

import pytest
import torch

from mmpo.encoding import collate, encode_pairs, encode_sequence
from mmpo.models import build_byte_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_byte_tokenizer()


PROMPT = [{"role": "user", "content": "Hi"}]


def test_sequence_is_template_then_response_then_eos(tokenizer):
    ids, prompt_length = encode_sequence(tokenizer, PROMPT, "Yo", max_length=100, max_prompt_length=50)
    assert tokenizer.decode(ids[:prompt_length]) == "<|user|>\nHi\n<|assistant|>\n"
    assert tokenizer.decode(ids[prompt_length:-1]) == "Yo"
    assert ids[-1] == tokenizer.eos_token_id
    assert ids.count(tokenizer.eos_token_id) == 1


def test_truncation_cuts_prompt_left_then_response_right(tokenizer):
    prompt = [{"role": "user", "content": "x" * 200}]
    ids, prompt_length = encode_sequence(
        tokenizer, prompt, "abcdefghij" * 10, max_length=60, max_prompt_length=20
    )
    assert len(ids) == 60
    assert prompt_length == 20
    assert tokenizer.decode(ids[:prompt_length]).endswith("<|assistant|>\n")
    assert tokenizer.decode(ids[prompt_length:]).startswith("abcdefghij")


def test_full_prompt_kept_when_it_fits(tokenizer):
    prompt = [{"role": "user", "content": "x" * 40}]
    ids, prompt_length = encode_sequence(tokenizer, prompt, "ok", max_length=100, max_prompt_length=10)
    assert prompt_length > 10
    assert len(ids) == prompt_length + 3


def test_pair_dropped_when_response_cannot_fit(tokenizer):
    prompt = [{"role": "user", "content": "x" * 50}]
    row = {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
        "p_chosen": 0.8,
    }
    pairs, dropped = encode_pairs(tokenizer, [row], max_length=20, max_prompt_length=20, hard_labels=False)
    assert pairs == []
    assert dropped == 1
    pairs, dropped = encode_pairs(tokenizer, [row], max_length=30, max_prompt_length=20, hard_labels=True)
    assert dropped == 0
    assert pairs[0].p_chosen == 1.0


def test_collate_masks_and_padding(tokenizer):
    rows = [
        {
            "prompt": PROMPT,
            "chosen": [{"role": "assistant", "content": c}],
            "rejected": [{"role": "assistant", "content": r}],
            "p_chosen": p,
        }
        for c, r, p in (("long answer", "no", 0.9), ("a", "bb", 0.6))
    ]
    pairs, _ = encode_pairs(tokenizer, rows, 100, 50, hard_labels=False)
    batch = collate(pairs, tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == 4
    assert batch["p_chosen"].tolist() == pytest.approx([0.9, 0.6])
    prompt_length = pairs[0].chosen_prompt_length
    # Response mask covers the response and eos of each row, nothing else.
    assert batch["response_mask"].sum(1).tolist() == [12, 2, 3, 3]
    assert not batch["response_mask"][:, :prompt_length].any()
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()
    assert batch["attention_mask"].sum(1).tolist() == [prompt_length + n for n in (12, 2, 3, 3)]
    assert batch["input_ids"].dtype == torch.long
