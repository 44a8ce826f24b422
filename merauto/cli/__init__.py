"""Command line: one module per command group, each declaring its commands' options beside their
handlers (``add_commands``); :func:`main` parses and calls the handler. The handlers are thin: what
they run lives in the layers below, as the Python API's functions do."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

from merauto import __version__
from merauto.cli import datasets, export, report, reruns, search, space, spot
from merauto.cli.parser import MerautoParser
from merauto.cli.spot import build_spot_score_parser
from merauto.errors import MerautoError

COMMAND_GROUPS = (search, datasets, report, reruns, export, spot, space)  # in the order --help lists them


def build_parser() -> argparse.ArgumentParser:
    """The ``merauto`` argument parser: each command group's module adds its sub-commands."""
    parser = MerautoParser(
        prog="merauto", description="AutoML for facial micro-expression recognition, evaluated with nested leave-one-subject-out."
    )
    parser.add_argument("--version", action="version", version=f"merauto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``merauto`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    score = argv[:2] == ["spot", "score"]  # a parser of its own: spot's options stay free of a sub-command
    args = build_spot_score_parser().parse_args(argv[2:]) if score else build_parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        return args.handler(args, console)
    except MerautoError as exc:
        console.print(f"[bold red]error:[/] {escape(exc.problem)}", highlight=False)
        if exc.fix:
            console.print(f"[bold]fix:[/] {escape(exc.fix)}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
