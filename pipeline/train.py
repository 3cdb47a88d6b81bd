"""DVC stage ``train``: train split -> MMPO policy or reward model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmpo.files import write_json
from mmpo.params import load_stage_params
from mmpo.training import run_train
from pipeline.common import stage_main

DESCRIPTION = """\
Train a policy (DPO form) or a reward model with the MMPO loss, the
cross-entropy against p_chosen. Uses a CUDA GPU when one is visible.

Reads:   --train (the label stage's train split), --test (the held-out
         split, evaluated every train.eval_steps steps and after the last
         step; leave it out to train without evaluation), train.model when
         it is a model id or path (model id downloads need network access).
Writes:  --model-dir (model, tokenizer, train_config.json with the resolved
         params; for a DPO run on the tiny model also reference/),
         --log (CSV, one row per step, for dvc plots: loss and the rewards/
         metrics of training, eval/ columns filled on evaluated steps),
         --metrics (JSON, with the eval/ metrics of the last evaluation).
Params:  train.objective, train.loss, train.model, train.tiny.*, train.beta,
         train.epochs, train.batch_size, train.learning_rate,
         train.weight_decay, train.max_length, train.max_prompt_length,
         train.max_grad_norm, train.eval_steps, train.seed, train.device.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--train", type=Path, default=Path("data/preferences/train.parquet"))
    parser.add_argument(
        "--test",
        type=Path,
        default=None,
        help="preference set to evaluate on during training (default: none, no evaluation)",
    )
    parser.add_argument("--model-dir", type=Path, default=Path("data/model"))
    parser.add_argument("--log", type=Path, default=Path("plots/train_log.csv"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("train", args.params, args.overrides)
    metrics = run_train(params, args.train, args.model_dir, args.log, args.test)
    write_json(metrics, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
