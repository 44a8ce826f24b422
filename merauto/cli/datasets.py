"""`merauto datasets check` and `merauto datasets list`: what merauto reads, and a copy checked before searching on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merauto.cli.parser import FORMATTER, Commands, add_dataset_options, cache_dir, dataset_request
from merauto.errors import MerautoError
from merauto.orchestrator.spot_command import LONG_VIDEO_DATASETS, SPOT_FRAME_SIZE


def cmd_datasets_check(args: argparse.Namespace, console: Console) -> int:
    """`merauto datasets check`: read every file of a dataset; exit 1 on anything that would break a search."""
    if args.dataset in LONG_VIDEO_DATASETS:
        return _check_long_video_dataset(args, console)
    from rich.progress import Progress

    from merauto.data.checks.dataset_check import print_check
    from merauto.data.datasets import validate_dataset

    request = dataset_request(args)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading every file of {request.label()}", total=None)
        loaded = validate_dataset(request, cache_dir(args), lambda done, total: progress.update(task, completed=done, total=total))
    print_check(loaded, Console(highlight=False))
    return 1 if loaded.errors else 0


def _check_long_video_dataset(args: argparse.Namespace, console: Console) -> int:
    """`merauto datasets check --dataset casme2-lv|samm-lv`: every sheet row and kept frame, read as merauto spot reads them."""
    from rich.progress import Progress

    from merauto.data.locations import data_root_from, read_data_config

    recognition_only = {"--manifest": args.manifest, "--classes": args.classes, "--features": args.features, "--sources": args.sources}
    for option, value in recognition_only.items():
        if value is not None:
            raise MerautoError(f"{option} applies to the recognition datasets, not the long videos {args.dataset}", f"drop {option}")
    root = data_root_from(args.data_root)
    if root is not None and not root.is_dir():
        raise MerautoError(f"--data-root {root} is not a folder", "pass the folder holding the datasets (or unset MERAUTO_DATA_ROOT)")
    config = read_data_config(args.data_config) if args.data_config else None
    from merauto.data.long_videos.check import check_long_video_set, print_long_video_check
    from merauto.data.long_videos.sets import LONG_VIDEO_SETS

    step = LONG_VIDEO_SETS[args.dataset].default_step
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading every sheet row and every {step}. frame of {args.dataset}", total=None)
        check = check_long_video_set(
            args.dataset,
            root,
            config,
            SPOT_FRAME_SIZE,
            step,
            cache_dir(args),
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_long_video_check(check, Console(highlight=False))
    return 1 if check.errors else 0


def cmd_datasets_list(args: argparse.Namespace, console: Console) -> int:
    """`merauto datasets list`: the datasets, their class schemes, and what the data root holds."""
    from merauto.data.datasets import DATASETS
    from merauto.data.locations import DATA_ROOT_ENV, NATIVE_LAYOUTS, data_root_from, find_source

    out = Console(highlight=False)
    for name, dataset in DATASETS.items():
        out.print(f"[bold]{name}[/]: {dataset.description}")
        for scheme, definition in dataset.class_schemes.items():
            out.print(f"    --classes {scheme}: {definition.description}")
    root = data_root_from(args.data_root)
    out.print(f"\ndata root: {root or f'none (pass --data-root DIR or set {DATA_ROOT_ENV})'}")
    for source, layout in NATIVE_LAYOUTS.items():
        found = find_source(source, root) if root is not None and root.is_dir() else None
        out.print(f"  {source}: {escape(found.origin) if found else 'not found; looks for ' + layout.describe()}")
    return 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    datasets = commands.add_parser(
        "datasets", help="list the datasets merauto reads, and check a copy before searching on it", formatter_class=FORMATTER
    )
    datasets_commands = datasets.add_subparsers(dest="datasets_command", required=True, metavar="ACTION", help="check or list")
    check = datasets_commands.add_parser(
        "check",
        help="read every annotation and file of a dataset and report counts and problems",
        formatter_class=FORMATTER,
        description="Per source: samples, subjects, class counts, frames found and samples with problems. "
        "Exits 1 when anything would break a search (merauto search runs the same check before starting).",
    )
    add_dataset_options(check)
    check.set_defaults(handler=cmd_datasets_check)
    listing = datasets_commands.add_parser(
        "list", help="the datasets, their class schemes, and which are found under the data root", formatter_class=FORMATTER
    )
    listing.add_argument("--data-root", type=Path, default=None, help="folder to look in (default: $MERAUTO_DATA_ROOT)")
    listing.set_defaults(handler=cmd_datasets_list)
