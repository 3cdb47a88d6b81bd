"""The ``mmpo`` command: one subcommand per pipeline stage.

``mmpo label --set label.gamma=2`` runs exactly what ``dvc repro`` runs for
that stage, with the same params file and defaults.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mmpo import __version__

STAGES = ("ingest", "judge", "label", "reference", "train", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one subparser per stage."""
    from pipeline.common import configure_parser

    parser = argparse.ArgumentParser(
        prog="mmpo",
        description="Margin Matching Preference Optimization: scored feedback -> soft-labelled "
        "preference data -> trained models. Run `mmpo STAGE --help` for what a stage reads and writes.",
    )
    parser.add_argument("--version", action="version", version=f"mmpo {__version__}")
    subparsers = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name in STAGES:
        module = importlib.import_module(f"pipeline.{name}")
        summary = module.DESCRIPTION.splitlines()[0]
        subparser = subparsers.add_parser(name, help=summary)
        configure_parser(subparser, module)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mmpo`` console script; returns the exit status."""
    from pipeline.common import run_stage

    args = build_parser().parse_args(argv)
    return run_stage(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
