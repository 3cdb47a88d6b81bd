"""DVC stage ``label``: responses -> train/test preference sets with soft targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmpo.files import write_json
from mmpo.label import run_label
from mmpo.params import load_stage_params
from pipeline.common import stage_main

DESCRIPTION = """\
Pair the responses of each prompt and label each pair with its soft target
p_chosen = sigmoid(gamma * margin), where the margin is the score gap or the
gap after the margin function that label.margin_function names.

Reads:   --responses and, when the file exists, --comparisons (the ingest
         stage's Parquet tables). A pairwise judgment becomes a pair directly,
         with p_chosen the winner's vote share and no gamma.
Writes:  --train and --test (Parquet preference sets, split by prompt,
         with the resolved params in the file metadata), a dataset card
         README.md beside --train,
         --metrics (JSON: candidate pairs, ties, identical pairs, pairs below
         the minimum margin and over the cap, pairs per split, gamma, p_chosen
         mean and quantiles), --plots (PNG and CSV histograms).
Params:  label.gamma, label.keep_ties, label.tie_tolerance,
         label.test_fraction, label.seed, label.pair_strategy,
         label.max_pairs_per_prompt, label.cap_order, label.margin_function,
         label.normalize_by, label.log_ratio_offset, label.min_margin,
         label.gamma_mode, label.gamma_per_source, label.target_mean_p,
         label.score_scale, label.label_smoothing, label.weight,
         label.stratify_by_source.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--responses", type=Path, default=Path("data/responses/responses.parquet"))
    parser.add_argument("--comparisons", type=Path, default=Path("data/responses/comparisons.parquet"))
    parser.add_argument("--train", type=Path, default=Path("data/preferences/train.parquet"))
    parser.add_argument("--test", type=Path, default=Path("data/preferences/test.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/label.json"))
    parser.add_argument("--plots", type=Path, default=Path("plots/label"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("label", args.params, args.overrides)
    metrics = run_label(params, args.responses, args.train, args.test, args.comparisons, args.plots)
    write_json(metrics, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
