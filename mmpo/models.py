"""Models and tokenizers: the offline tiny default, or any Hugging Face model."""

from __future__ import annotations

import logging

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from mmpo.params import TinyModelParams

logger = logging.getLogger(__name__)

TINY = "tiny"

# Used for tokenizers that ship no chat template, the tiny one included.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_byte_tokenizer() -> PreTrainedTokenizerFast:
    """Return a byte-level tokenizer (256 byte tokens, no merges) built offline.

    Every text encodes, one token per UTF-8 byte, plus ``<|pad|>`` and
    ``<|endoftext|>`` specials. It needs no training data and no download.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|endoftext|>"
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    objective: str, tokenizer: PreTrainedTokenizerFast, size: TinyModelParams, max_length: int, seed: int
) -> PreTrainedModel:
    """Return a randomly initialised GPT-2 of ``size`` without dropout, as a policy or a reward model."""
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=max_length,
        n_embd=size.hidden,
        n_layer=size.layers,
        n_head=size.heads,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
        # No dropout: a model this small does not need it, and without it a
        # step does not depend on how a batch is split or ordered.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        summary_first_dropout=0.0,
    )
    torch.manual_seed(seed)
    model_class = GPT2LMHeadModel if objective == "dpo" else GPT2ForSequenceClassification
    return model_class(config)


def load_tokenizer(name: str) -> PreTrainedTokenizerFast:
    """Load a tokenizer by model id or path and give it a pad token and chat template."""
    tokenizer = AutoTokenizer.from_pretrained(name)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {name!r} has neither a pad nor an eos token; add one")
        logger.warning("tokenizer of %r has no pad token: using eos %r", name, tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        logger.warning("tokenizer of %r has no chat template: using the mmpo default", name)
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return tokenizer


def load_model(name: str, objective: str, tokenizer, one_output: bool = True) -> PreTrainedModel:
    """Load a policy (causal LM) or a reward model by id or path.

    With ``one_output`` a reward model gets a one-output head, a new one when
    the checkpoint has another. Without it the saved head is kept as it is, so
    a caller can check it instead of silently replacing it.
    """
    if objective == "dpo":
        model = AutoModelForCausalLM.from_pretrained(name)
    elif one_output:
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(name)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def select_device(choice: str) -> torch.device:
    """Return the torch device for ``auto``, ``cpu`` or ``cuda``.

    Raises:
        RuntimeError: ``cuda`` was requested but no CUDA device is visible.
    """
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)
