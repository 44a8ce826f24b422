"""`merauto confirm` and `merauto repeat`: a run's trials evaluated again over new seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merauto.cli.parser import FORMATTER, Commands, add_cache_dir, cache_dir
from merauto.errors import MerautoError


def cmd_confirm(args: argparse.Namespace, console: Console) -> int:
    """`merauto confirm`: rerun the best trials and the presets over new seeds; the selection then takes the best mean inner UF1."""
    from merauto.results.arguments import check_confirm_options
    from merauto.results.run_dir import load_run

    check_confirm_options(args.top, args.seeds, "--top", "--seeds")
    if args.top == 0:
        raise MerautoError("--top 0 confirms no trial", "pass e.g. --top 3")
    load_run(args.run_dir)
    from merauto.results.confirm import confirm_run

    summary = confirm_run(args.run_dir, args.top, args.seeds, cache_dir(args), args.device, console)
    if summary is None:
        raise MerautoError(f"{args.run_dir} has no completed trial to confirm", "run merauto search first (or wait for a trial to finish)")
    after = summary.after
    change = "unchanged" if after.number == summary.before else f"was trial {summary.before} on the search's seed alone"
    seeds = 1 + len(after.repeat_inner)
    print(f"{summary.ran} nested evaluations run for {len(summary.candidates)} trials")
    print(f"selected trial {after.number} ({change}): mean inner UF1 {after.confirmed_score:.3f} over {seeds} seeds")
    return 0


def cmd_repeat(args: argparse.Namespace, console: Console) -> int:
    """`merauto repeat`: the selected (or named) trial rerun over new seeds (and, with --reproduce, its own)."""
    from merauto.results.run_dir import load_run

    if args.seeds < 0 or (args.seeds == 0 and not args.reproduce):
        raise MerautoError(f"--seeds {args.seeds}: need at least one repetition", "pass e.g. --seeds 5 (or --seeds 0 with --reproduce)")
    load_run(args.run_dir)
    from merauto.results.repeat import repeat_trial

    summary = repeat_trial(args.run_dir, args.trial, args.seeds, cache_dir(args), args.device, console, reproduce=args.reproduce)
    if summary.reproduction is not None:
        r = summary.reproduction
        print(f"trial {summary.trial} seed {r.seed} inner_uf1: {r.recomputed:.4f}, recorded by the search {r.recorded:.4f}")
    if summary.records:
        for field in ("inner_uf1", "outer_uf1", "outer_uar", "outer_accuracy"):
            mean, sd = summary.mean_sd(field)
            print(f"trial {summary.trial} {field}: {mean:.3f} ± {sd:.3f} over {len(summary.records)} seeds")
    return 1 if summary.reproduction is not None and not summary.reproduction.exact else 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    confirm = commands.add_parser(
        "confirm",
        help="rerun the best trials and the presets over new seeds, then select by the mean inner-validation UF1",
        formatter_class=FORMATTER,
        description="The best of many noisy inner scores is partly luck (a winner's curse). confirm reruns the nested evaluation "
        "of the --top trials by inner-validation UF1, and of every preset, with --seeds new seeds each; export, repeat, report and "
        "the global selection then take the best mean inner-validation UF1 over the search's seed and the repetitions. Outer "
        "scores of the repetitions are shown, never chosen on. Seeds already run (by confirm or repeat) are not rerun.",
    )
    confirm.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    confirm.add_argument("--top", type=int, default=3, help="how many of the best trials by search score to confirm (presets come too)")
    confirm.add_argument("--seeds", type=int, default=2, help="new seeds per confirmed trial")
    confirm.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda or cuda:N")
    add_cache_dir(confirm)
    confirm.set_defaults(handler=cmd_confirm)

    repeat = commands.add_parser(
        "repeat", help="rerun the selected pipeline's nested evaluation over new seeds (mean and spread)", formatter_class=FORMATTER
    )
    repeat.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    repeat.add_argument("--trial", type=int, default=None, help="trial to repeat (default: the global selection)")
    repeat.add_argument("--seeds", type=int, default=3, help="number of repetitions, each with a new seed")
    repeat.add_argument(
        "--reproduce",
        action="store_true",
        help="first rerun the trial with the search's own seed and check it recomputes the objective the search recorded (exit 1 if not)",
    )
    repeat.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda or cuda:N")
    add_cache_dir(repeat)
    repeat.set_defaults(handler=cmd_repeat)
