"""DVC stage ``evaluate``: trained model + test split -> accuracy and cross-entropy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmpo.evaluation import run_evaluate, run_rewardbench
from mmpo.files import write_json
from mmpo.params import load_stage_params
from pipeline.common import stage_main

DESCRIPTION = """\
Score every test pair with the trained model: z = r(chosen) - r(rejected)
for a reward model, the implicit DPO reward difference for a policy.

Reads:   --model-dir (the train stage's folder), --test (the test split).
Writes:  --predictions (Parquet: prompt_id, source, margin, p_chosen, z,
         p_predicted per pair),
         --metrics (JSON: pairwise accuracy without ties, accuracy by margin
         bucket, mean cross-entropy against p_chosen and against hard labels,
         expected calibration error and Brier score against both),
         --plots-dir (reliability diagram, accuracy by margin bucket and
         predicted-probability histogram, as PNG and as CSV for dvc plots).
         With --rewardbench FILE (JSONL or Parquet with prompt, chosen,
         rejected, subset), also --rewardbench-metrics (JSON: accuracy per
         subset and RewardBench's weighted section scores).
Params:  evaluate.batch_size, evaluate.calibration_bins, evaluate.margin_edges.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--model-dir", type=Path, default=Path("data/model"))
    parser.add_argument("--test", type=Path, default=Path("data/preferences/test.parquet"))
    parser.add_argument("--predictions", type=Path, default=Path("data/eval/predictions.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--plots-dir", type=Path, default=Path("plots/evaluate"))
    parser.add_argument("--rewardbench", type=Path, default=None, help="RewardBench-style file to score too")
    parser.add_argument("--rewardbench-metrics", type=Path, default=Path("metrics/rewardbench.json"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("evaluate", args.params, args.overrides)
    metrics = run_evaluate(params, args.model_dir, args.test, args.predictions, args.plots_dir)
    write_json(metrics, args.metrics)
    if args.rewardbench is not None:
        write_json(run_rewardbench(params, args.model_dir, args.rewardbench), args.rewardbench_metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
