"""Measure DPO-form training steps: tokens/s, step time per loss, peak memory.

Builds a GPT-2 style causal LM from a config (no download), feeds it random
token batches shaped like preference pairs, and times optimiser steps for
each loss. Sizes come from flags, so a short CPU check and a long GPU run use
the same script:

    python benchmarks/train_step.py --device cpu --layers 2 --hidden 64 --steps 20
    python benchmarks/train_step.py --device cuda --bf16 --layers 12 --hidden 768 \\
        --seq-len 1024 --batch 8 --steps 300

On CUDA the policy runs under bf16 autocast when --bf16 is given; the loss
maths stays in float32 (see mmpo.losses).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from mmpo.losses import pair_loss
from mmpo.scoring import pair_logits, response_logps


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq-len", type=int, default=256, help="tokens per sequence (prompt + response)")
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="pairs per step (2x sequences)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per loss, after 3 warm-up steps")
    parser.add_argument(
        "--losses",
        default="hard,mmpo,mmpo:precomputed",
        help="comma-separated loss kinds to time; ':precomputed' reads reference log-probs from the batch",
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass (CUDA)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_batch(args: argparse.Namespace, generator: torch.Generator, device: torch.device) -> dict:
    """Return a collated batch of random pairs: (2B, T) ids, masks, and (B,) targets."""
    sequences = 2 * args.batch
    input_ids = torch.randint(0, args.vocab, (sequences, args.seq_len), generator=generator)
    response_mask = torch.zeros(sequences, args.seq_len, dtype=torch.bool)
    response_mask[:, args.prompt_len :] = True
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": torch.ones_like(input_ids).to(device),
        "response_mask": response_mask.to(device),
        "p_chosen": torch.rand(args.batch, generator=generator).mul(0.5).add(0.5).to(device),
    }


def time_losses(args, kinds, model, reference, optimizer, device) -> dict[str, list[float]]:
    """Return the wall time in seconds of each timed step, per loss kind.

    Kinds take turns step by step on the same batch, so drift in machine load
    affects them alike.
    """
    generator = torch.Generator().manual_seed(args.seed)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    times = {kind: [] for kind in kinds}
    for step in range(args.steps + 3):
        batch = make_batch(args, generator, device)
        with torch.no_grad():
            stored = response_logps(
                reference, batch["input_ids"], batch["attention_mask"], batch["response_mask"]
            )
        for kind in kinds:
            loss_kind, _, mode = kind.partition(":")
            step_batch = dict(batch)
            if mode == "precomputed":
                step_batch["reference_chosen"], step_batch["reference_rejected"] = stored.chunk(2)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            with autocast:
                z = pair_logits("dpo", model, None if mode else reference, step_batch, beta=0.1)
            loss = pair_loss(loss_kind, z, batch["p_chosen"], beta=0.1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step >= 3:
                times[kind].append(time.perf_counter() - start)
    return times


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    config = GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.seq_len,
        n_embd=args.hidden,
        n_layer=args.layers,
        n_head=args.heads,
    )
    model = GPT2LMHeadModel(config).to(device)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    results = {"args": vars(args), "parameters": sum(p.numel() for p in model.parameters()), "losses": {}}
    tokens_per_step = 2 * args.batch * args.seq_len
    for kind, times in time_losses(args, args.losses.split(","), model, reference, optimizer, device).items():
        median = statistics.median(times)
        results["losses"][kind] = {"median_step_s": median, "tokens_per_s": tokens_per_step / median}
    if device.type == "cuda":
        results["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed = {kind: value["median_step_s"] for kind, value in results["losses"].items()}
    if "hard" in timed and "mmpo" in timed:
        results["mmpo_overhead_percent"] = 100.0 * (timed["mmpo"] - timed["hard"]) / timed["hard"]
    if "mmpo" in timed and "mmpo:precomputed" in timed:
        results["precomputed_speedup"] = timed["mmpo"] / timed["mmpo:precomputed"]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
