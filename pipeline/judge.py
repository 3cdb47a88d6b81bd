"""DVC stage ``judge``: responses -> responses scored by an LLM judge (optional)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mmpo.files import write_json
from mmpo.judge.client import FatalJudgeError
from mmpo.judge.run import run_judge
from mmpo.params import load_stage_params
from pipeline.common import stage_main

DESCRIPTION = """\
Score responses with an LLM judge behind any OpenAI-compatible API.

Reads:   --responses and, when it exists, --comparisons (the ingest stage's
         Parquet tables); the API key from the environment variable named by
         judge.api_key_env. With judge.enabled false it sends nothing and
         passes the rows through unchanged.
Writes:  --judged (Parquet responses table with the judged scores),
         --judged-comparisons (the input comparisons, plus the judged pairs
         for the pairwise rubric), --calls (Parquet, one row per judge call
         with status, raw reply, rubric version and usage), --failures
         (Parquet, one row per judged response or pair left without a result,
         with its reason), --metrics (JSON).
Cache:   --cache, an SQLite file of every reply received, kept across runs so
         a rerun (after a crash too) sends no request already answered.
Params:  judge.* (see params.yaml).
"""

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stage's input, output and cache paths."""
    parser.add_argument("--responses", type=Path, default=Path("data/responses/responses.parquet"))
    parser.add_argument("--comparisons", type=Path, default=Path("data/responses/comparisons.parquet"))
    parser.add_argument("--judged", type=Path, default=Path("data/judged/responses.parquet"))
    parser.add_argument("--judged-comparisons", type=Path, default=Path("data/judged/comparisons.parquet"))
    parser.add_argument("--calls", type=Path, default=Path("data/judged/calls.parquet"))
    parser.add_argument("--failures", type=Path, default=Path("data/judged/failures.parquet"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/judge.json"))
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(".mmpo-cache/judge.sqlite"),
        help="SQLite reply cache kept across runs (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> None:
    """Run the stage with parsed arguments."""
    params = load_stage_params("judge", args.params, args.overrides)
    paths = {
        "responses": args.responses,
        "comparisons": args.comparisons,
        "judged": args.judged,
        "judged_comparisons": args.judged_comparisons,
        "calls": args.calls,
        "failures": args.failures,
    }
    try:
        metrics = run_judge(params, paths, args.cache)
    except FatalJudgeError as error:
        logger.error("judge: stopped: %s", error)
        raise SystemExit(2) from error
    write_json(metrics, args.metrics)


if __name__ == "__main__":
    stage_main(sys.modules[__name__])
