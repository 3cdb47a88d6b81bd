"""Stage ``reference``: add the reference policy's log-probs to a preference set."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from mmpo import reference_logps
from mmpo.files import write_json
from mmpo.models import select_device
from mmpo.params import load_stage_params
from mmpo.preference_sets import read_preference_set
from mmpo.training import prepare_models
from pipeline.common import stage_main

DESCRIPTION = """\
Compute the reference policy's summed log-probabilities of each pair's chosen
and rejected responses once, so DPO-form training needs no reference model.

Reads:   --train (a preference set), train.model (the reference policy).
Writes:  --out (the same pairs plus reference_chosen_logp and
         reference_rejected_logp, float64, null where truncation drops the
         pair; the reference model and tokenisation params are stored in the
         file metadata and checked by the train stage), --metrics (JSON).
Params:  train.model, train.tiny.*, train.seed, train.max_length,
         train.max_prompt_length, train.device, evaluate.batch_size.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--train", type=Path, default=Path("data/preferences/train.parquet"))
    parser.add_argument("--out", type=Path, default=Path("data/preferences/train_reference.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/reference.json"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = dataclasses.replace(load_stage_params("train", args.params, args.overrides), objective="dpo")
    batch_size = load_stage_params("evaluate", args.params, args.overrides).batch_size
    table = read_preference_set(args.train, "reference")
    tokenizer, model, _ = prepare_models(params)
    logps = reference_logps.compute_logps(
        model, tokenizer, table.to_pylist(), params, batch_size, select_device(params.device)
    )
    reference_logps.write_with_reference(table, logps, args.train, args.out, params)
    dropped = int((logps != logps).any(axis=1).sum())  # NaN marks pairs cut by truncation
    write_json({"pairs": table.num_rows, "pairs_dropped_truncation": dropped}, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
