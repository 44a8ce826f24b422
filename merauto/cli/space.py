"""`merauto space` and `merauto dashboard`: the search space, and a run's study in optuna-dashboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merauto.cli.parser import FORMATTER, Commands
from merauto.errors import MerautoError


def cmd_dashboard(args: argparse.Namespace, console: Console) -> int:
    """`merauto dashboard`: serve the run's study in optuna-dashboard."""
    from merauto.results.run_dir import load_run

    load_run(args.run_dir)
    from merauto.results.dashboard import serve

    serve(args.run_dir, host=args.host, port=args.port, console=console)
    return 0


def cmd_space(args: argparse.Namespace, console: Console) -> int:
    """`merauto space`: the search space as a tree, or configs sampled from it."""
    import optuna

    from merauto.search_space.describe import sample_configs, space_tree

    if args.sample is None:
        Console().print(space_tree())
        return 0
    if args.sample < 1:
        raise MerautoError(f"--sample {args.sample}: nothing to sample", "give a positive number of configs")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for config in sample_configs(args.sample, args.seed):
        print(config.to_json() if args.json else config.summary())
    return 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    space = commands.add_parser(
        "space",
        help="print the search space as a tree (slots, options, hyper-parameter ranges), or sample configs from it",
        formatter_class=FORMATTER,
        description="The search space with every installed option; a dataset without landmarks or frames offers fewer.",
    )
    space.add_argument("--sample", type=int, default=None, metavar="N", help="print N configs sampled at random instead of the tree")
    space.add_argument("--seed", type=int, default=0, help="seed of the random sampler")
    space.add_argument("--json", action="store_true", help="print sampled configs as JSON (one per line) instead of one-line summaries")
    space.set_defaults(handler=cmd_space)

    dashboard = commands.add_parser("dashboard", help="serve the run's study in optuna-dashboard", formatter_class=FORMATTER)
    dashboard.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (127.0.0.1: this machine only; another address warns that others can reach it)",
    )
    dashboard.add_argument("--port", type=int, default=8080, help="port to listen on")
    dashboard.set_defaults(handler=cmd_dashboard)
