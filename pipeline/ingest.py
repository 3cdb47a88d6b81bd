"""DVC stage ``ingest``: input file or folder -> responses + quarantine tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmpo.files import write_json
from mmpo.ingest import run_ingest
from mmpo.params import load_stage_params
from pipeline.common import stage_main

DESCRIPTION = """\
Read scored responses into the canonical responses table.

Reads:   ingest.path (a JSONL, JSON, CSV or Parquet file, or a folder), or
         ingest.hf_dataset with datasets.load_dataset.
Writes:  --responses (Parquet, one row per scored response),
         --comparisons (Parquet, one row per pairwise judgment, for sources
         that compare two responses instead of scoring each),
         --quarantine (Parquet, one row per rejected input row with its reason),
         --metrics (JSON: rows read, responses, quarantined rows by reason,
         merged duplicates and the input = output + quarantined + merged
         accounting).
Params:  ingest.source, ingest.path, ingest.hf_dataset, ingest.hf_config,
         ingest.hf_split, ingest.fields, ingest.judge, ingest.missing_scores,
         ingest.max_text_length, ingest.score_range, ingest.reparse_ratings,
         and the per-source sections ingest.ultrafeedback, ingest.helpsteer,
         ingest.pku_saferlhf, ingest.arena_hard, ingest.comparisons.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input and output paths."""
    parser.add_argument("--responses", type=Path, default=Path("data/responses/responses.parquet"))
    parser.add_argument("--quarantine", type=Path, default=Path("data/responses/quarantine.parquet"))
    parser.add_argument("--comparisons", type=Path, default=Path("data/responses/comparisons.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/ingest.json"))


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("ingest", args.params, args.overrides)
    metrics = run_ingest(params, args.responses, args.quarantine, args.comparisons)
    write_json(metrics, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
