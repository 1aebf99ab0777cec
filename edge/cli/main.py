"""The `edge` command: one front door, one module per sub-command under edge/cli/.

A user error (EdgeError) prints one line on standard error and exits 2 (verify exits 1 on a
fault it found); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from edge import __version__
from edge.errors import EdgeError

# Sub-command modules, in the order `edge --help` lists them. Each defines
# `add_parser(subparsers) -> None` that sets `func` on its parser.
COMMANDS = (
    "run",
    "replay",
    "check_config",
    "doctor",
    "keygen",
    "verify",
    "record",
    "simulate",
    "calibrate",
    "plates",
    "pavement",
)


CommandFunc = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="edge", description="roadside-edge: weigh-in-motion enforcement unit"
    )
    parser.add_argument("--version", action="version", version=f"roadside-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module_name = f"edge.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `edge` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func: CommandFunc = args.func
    try:
        return func(args)
    except EdgeError as exc:
        print(f"edge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edge {args.command}: interrupted", file=sys.stderr)
        return 130
