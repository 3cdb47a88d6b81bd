"""Compare training tokens/s of mmpo's PreferenceTrainer and TRL's DPOTrainer.

Both trainers train the same tiny GPT-2 (the project's byte tokenizer, built
from a config, no download) on the same preference set, written by mmpo's
ingest and label code from generated scored responses. Both use the same
batch size, max length, number of optimiser steps, learning rate, AdamW, a
constant schedule, fp32 and no gradient checkpointing (TRL's defaults of bf16
and gradient checkpointing are turned off). Every sequence fits in
``--max-length``, so neither trainer truncates.

Runs (``--runs``):

- ``mmpo``: the MMPO loss, reference model in memory (on-the-fly reference);
- ``mmpo-hard``: the hard DPO loss, reference model in memory;
- ``mmpo-stored``: the MMPO loss with reference log-probs stored in the
  preference set beforehand (``mmpo.reference_logps``);
- ``trl``: ``DPOTrainer`` with the sigmoid (DPO) loss and a reference model;
- ``trl-precomputed``: ``DPOTrainer`` with ``precompute_ref_log_probs=True``.

Each run is a fresh child process; with ``--repeats`` the runs alternate.
Tokens/s counts the real (attention-mask) tokens of chosen and rejected
sequences that the loss saw in the timed steps, divided by the wall time from
the end of the last warm-up step to the end of the last step. Warm-up steps,
model building, tokenisation and reference precomputation are not timed.

    python benchmarks/trl_compare.py --steps 20 --batch-size 8 --max-length 256
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

RUNS = ("mmpo", "mmpo-hard", "mmpo-stored", "trl", "trl-precomputed")
WORDS = "the a model answer data step loss pair score prompt token margin value reward policy".split()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed optimiser steps before the timed ones")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per step (2x sequences)")
    parser.add_argument("--max-length", type=int, default=256, help="max tokens per sequence (bytes here)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads per run (1 is steadier on a shared machine)"
    )
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {list(RUNS)}")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all runs, in alternating order")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mmpo-trl-compare"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_preference_set(args: argparse.Namespace) -> Path:
    """Write a preference set with enough pairs for every step; return its path.

    Each prompt has 4 responses with distinct scores, so 6 pairs. Prompts are
    about max_length / 4 bytes and responses between max_length / 8 and
    max_length / 2 bytes. The chat template adds about 30 bytes, so from a
    max_length of about 128 up a sequence fits without truncation.
    """
    from mmpo.ingest import run_ingest
    from mmpo.label import run_label
    from mmpo.params import IngestParams, LabelParams

    rng = random.Random(args.seed)

    def text(length: int) -> str:
        words = []
        while sum(len(w) + 1 for w in words) < length:
            words.append(rng.choice(WORDS))
        return " ".join(words)[:length]

    pairs = args.batch_size * (args.warmup + args.steps)
    rows = []
    for prompt in range(-(-pairs // 6)):
        prompt_text = text(args.max_length // 4)
        for score in (2, 4, 6, 8):
            length = rng.randint(args.max_length // 8, args.max_length // 2)
            rows.append(
                {"prompt_id": f"p{prompt}", "prompt": prompt_text, "response": text(length), "score": score}
            )
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / "responses.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    run_ingest(
        IngestParams.from_mapping({"path": str(source)}),
        args.workdir / "r.parquet",
        args.workdir / "q.parquet",
    )
    train = args.workdir / "train.parquet"
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        args.workdir / "r.parquet",
        train,
        args.workdir / "t.parquet",
    )
    return train


class StepClock(TrainerCallback):
    """Stores the wall time and the token count so far at the end of each optimiser step."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.ends = tokens, []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append((time.perf_counter(), sum(self.tokens)))


def counting(trainer_class):
    """Return a subclass of ``trainer_class`` that adds each batch's attention-mask sum to ``tokens``."""

    class Counting(trainer_class):
        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training:
                self.tokens.append(int(inputs["attention_mask"].sum()))
            return super().compute_loss(model, inputs, *args, **kwargs)

    return Counting


def mmpo_trainer(args, run: str, train: Path, tokens: list[int]):
    """Return a ``PreferenceTrainer`` set up as the train stage sets it up."""
    import pyarrow.parquet as pq

    from mmpo import reference_logps
    from mmpo.encoding import encode_pairs
    from mmpo.params import TrainParams
    from mmpo.trainer import PairCollator, PairDataset, PreferenceTrainer
    from mmpo.training import prepare_models, training_arguments

    params = TrainParams.from_mapping(
        {
            "loss": "hard" if run == "mmpo-hard" else "mmpo",
            "tiny": {"layers": args.layers, "hidden": args.hidden, "heads": args.heads},
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "max_prompt_length": args.max_length // 2,
            "max_steps": args.warmup + args.steps,
            "learning_rate": 1e-4,
            "seed": args.seed,
            "device": args.device,
        }
    )
    tokenizer, model, reference = prepare_models(params)
    rows = pq.read_table(train).to_pylist()
    if run == "mmpo-stored":
        logps = reference_logps.compute_logps(
            reference, tokenizer, rows, params, args.batch_size, args.device
        )
        for row, (chosen, rejected) in zip(rows, logps.tolist(), strict=True):
            row["reference_chosen_logp"], row["reference_rejected_logp"] = chosen, rejected
        reference = None
    pairs, dropped = encode_pairs(
        tokenizer, rows, params.max_length, params.max_prompt_length, hard_labels=False
    )
    assert dropped == 0, "no pair may be truncated away"
    trainer = counting(PreferenceTrainer)(
        model=model,
        args=training_arguments(params, args.workdir / run, torch.device(args.device)),
        train_dataset=PairDataset(pairs),
        data_collator=PairCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        objective="dpo",
        loss_kind=params.loss,
        beta=params.beta,
        label_smoothing=0.0,
        margin_scale=1.0,
        reference=reference,
    )
    trainer.args.disable_tqdm = True
    return trainer


def trl_trainer(args, run: str, train: Path, tokens: list[int]):
    """Return a ``trl.DPOTrainer`` with the same model, data, sizes and optimiser as ``mmpo_trainer``."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    from mmpo.models import build_byte_tokenizer, build_tiny_model
    from mmpo.params import TinyModelParams

    tokenizer = build_byte_tokenizer()
    size = TinyModelParams(layers=args.layers, hidden=args.hidden, heads=args.heads)
    policy = build_tiny_model("dpo", tokenizer, size, args.max_length, args.seed)
    precompute = run == "trl-precomputed"
    config = DPOConfig(
        output_dir=str(args.workdir / run),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=0.1,
        loss_type=["sigmoid"],
        max_length=args.max_length,
        precompute_ref_log_probs=precompute,
        gradient_checkpointing=False,
        bf16=False,
        fp16=False,
        use_cpu=args.device == "cpu",
        seed=args.seed,
        data_seed=args.seed,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    dataset = datasets.Dataset.from_parquet(str(train), cache_dir=str(args.workdir / "cache"))
    return counting(DPOTrainer)(
        model=policy,
        ref_model=None if precompute else copy.deepcopy(policy).eval(),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def run_child(args: argparse.Namespace) -> dict:
    """Train one run and return its timed figures."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = args.workdir / "train.parquet"
    tokens: list[int] = []
    build = mmpo_trainer if args.child.startswith("mmpo") else trl_trainer
    trainer = build(args, args.child, train, tokens)
    trainer.tokens = tokens
    clock = StepClock(tokens)
    trainer.add_callback(clock)
    trainer.train()

    (start, tokens_before), (end, tokens_after) = clock.ends[args.warmup - 1], clock.ends[-1]
    steps = len(clock.ends) - args.warmup
    counted = tokens_after - tokens_before
    return {
        "run": args.child,
        "steps": steps,
        "tokens": counted,
        "seconds": end - start,
        "tokens_per_s": counted / (end - start),
        "step_s": (end - start) / steps,
        "tokens_per_step": counted / steps,
    }


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(run_child(args)))
        return

    runs = args.runs.split(",")
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        raise SystemExit(f"--runs: unknown run(s) {unknown}; choose from {list(RUNS)}")
    write_preference_set(args)
    results: dict[str, list[dict]] = {run: [] for run in runs}
    forwarded = [a for a in sys.argv[1:] if a != "--child"]
    for repeat in range(args.repeats):
        for run in runs if repeat % 2 == 0 else reversed(runs):
            command = [sys.executable, __file__, *forwarded, "--child", run]
            output = subprocess.run(command, capture_output=True, text=True, check=False)
            if output.returncode != 0:
                raise SystemExit(f"run {run} failed:\n{output.stderr[-4000:]}")
            results[run].append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[run][-1]), file=sys.stderr)

    summary = {
        run: {
            "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in values),
            "tokens_per_s_all": [round(r["tokens_per_s"]) for r in values],
            "step_s_median": statistics.median(r["step_s"] for r in values),
            "tokens_per_step": values[0]["tokens_per_step"],
        }
        for run, values in results.items()
    }
    print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": summary}, indent=2))


if __name__ == "__main__":
    main()
