"""Command-line plumbing shared by the stage modules."""

from __future__ import annotations

import argparse
import logging
import sys
from types import ModuleType
from typing import Callable

from mmpo.errors import InputError
from mmpo.params import ParamsError

logger = logging.getLogger("mmpo")

EPILOG_PARAMS = "Params are read from --params and can be overridden with --set stage.key=value."


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--params`` and ``--set`` to a stage parser."""
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one param, e.g. --set label.gamma=2 (repeatable; VALUE is parsed as YAML)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")


def setup_logging(verbose: bool) -> None:
    """Log to stderr with timestamps at INFO (or DEBUG) level."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_stage(function: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> int:
    """Run a stage; turn expected errors into one logged line and exit code 2."""
    setup_logging(args.verbose)
    try:
        function(args)
    except (ParamsError, InputError, FileNotFoundError, ValueError) as error:
        logger.error("%s", error)
        return 2
    return 0


def configure_parser(parser: argparse.ArgumentParser, stage: ModuleType) -> argparse.ArgumentParser:
    """Give ``parser`` the stage module's description and arguments."""
    parser.description = stage.DESCRIPTION
    parser.epilog = EPILOG_PARAMS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    stage.add_arguments(parser)
    add_params_arguments(parser)
    return parser


def stage_main(stage: ModuleType) -> None:
    """Parse ``sys.argv`` for a stage module and exit with the stage's status."""
    parser = configure_parser(argparse.ArgumentParser(prog=f"python -m {stage.__name__}"), stage)
    sys.exit(run_stage(stage.run, parser.parse_args()))
