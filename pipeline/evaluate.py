"""DVC stage ``evaluate``: trained model + test split -> accuracy and cross-entropy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmpo.evaluation import run_evaluate
from mmpo.files import write_json
from mmpo.params import load_stage_params
from pipeline.common import stage_main

DESCRIPTION = """\
Score every test pair with the trained model: z = r(chosen) - r(rejected)
for a reward model, the implicit DPO reward difference for a policy.

Reads:   --model-dir (the train stage's folder), --test (the test split).
Writes:  --predictions (Parquet: prompt_id, p_chosen, z, p_predicted per pair),
         --metrics (JSON: pairwise accuracy without ties, mean cross-entropy
         against p_chosen and against hard labels, mean predicted and target
         probability).
Params:  evaluate.batch_size.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--model-dir", type=Path, default=Path("data/model"))
    parser.add_argument("--test", type=Path, default=Path("data/preferences/test.parquet"))
    parser.add_argument("--predictions", type=Path, default=Path("data/eval/predictions.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("evaluate", args.params, args.overrides)
    metrics = run_evaluate(params, args.model_dir, args.test, args.predictions)
    write_json(metrics, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
