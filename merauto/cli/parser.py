"""The command line's argument parser (argparse's, which also names the closest option to a misspelt
one) and the options several commands share: the dataset, the cache folder, bootstrap resamples."""

from __future__ import annotations

import argparse
import difflib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from merauto.data.datasets import DatasetRequest

FORMATTER = argparse.ArgumentDefaultsHelpFormatter
Commands = Any  # what ArgumentParser.add_subparsers returns (argparse._SubParsersAction, private)


class MerautoParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and, through ``add_subparsers``, every sub-command's) that refuses an
    unknown option naming the closest known one of the same command: ``--budjet`` -> ``--budget``."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> tuple[Any, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        unknown = [arg.split("=", 1)[0] for arg in extras if arg.startswith("-")]
        if unknown:  # merauto never takes unknown arguments: say so here, where this command's options are known
            self.error(f"unrecognized arguments: {' '.join(extras)}\n  fix: {self.suggest(unknown)}")
        return parsed, extras

    def suggest(self, unknown: list[str]) -> str:
        """What to pass instead of the ``unknown`` options: the closest option of this command, or its help."""
        known = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
        close = [match for option in unknown for match in difflib.get_close_matches(option, known, n=1, cutoff=0.6)]
        if close:
            return f"did you mean {' or '.join(dict.fromkeys(close))}?"
        return f"see {self.prog} --help for the options"


def add_resamples(parser: argparse.ArgumentParser) -> None:
    """``--resamples``: bootstrap resamples per interval."""
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of whole subjects per interval")


def add_cache_dir(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--cache-dir``: where generated data and cached inputs live."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated data and cached inputs live (default: $MERAUTO_CACHE or ~/.cache/merauto)",
    )


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """The options naming a recognition dataset (read by :func:`dataset_request`) and the synthetic set's knobs."""
    from merauto.data.datasets import DATASETS

    group = parser.add_argument_group("dataset")
    group.add_argument(
        "--dataset", default="synthetic", help="dataset to use: " + "; ".join(f"{k}: {v.description}" for k, v in DATASETS.items())
    )
    group.add_argument(
        "--manifest", type=Path, default=None, help="CSV manifest for --dataset manifest (columns: subject, sample, label, frames_dir, ...)"
    )
    group.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding the licensed datasets under their distributed names, found up to 3 levels down (default: $MERAUTO_DATA_ROOT)",
    )
    group.add_argument(
        "--data-config",
        type=Path,
        default=None,
        help='TOML file giving per-dataset paths when a layout differs: root = "DIR", [casme2] frames = "...", coding = "..."',
    )
    group.add_argument(
        "--classes",
        default=None,
        help="class scheme of casme2/samm: 5 (default), 3 (the composite's mapping) or all (every raw label); with "
        "--dataset manifest the class names, comma-separated (default: the manifest's labels, refused when one looks misspelt)",
    )
    group.add_argument(
        "--features",
        type=Path,
        default=None,
        help="folder of STSTNet's precomputed flow+strain PNGs ('{subject}_{sample} .png', flat or LOSO-arranged): "
        "--dataset composite runs on them without the videos",
    )
    group.add_argument(
        "--sources",
        default=None,
        help="--dataset composite only: keep these source datasets, comma-separated (any of casme2, samm, smic; default: all); "
        "with --features or --data-root",
    )
    add_cache_dir(group)
    synthetic = parser.add_argument_group("synthetic dataset")
    synthetic.add_argument(
        "--synthetic-size",
        choices=("tiny", "small", "composite"),
        default="small",
        help="tiny: 6 subjects, ~30 clips (tests, smoke runs); small: 12 subjects, ~100 clips; "
        "composite: the 68-subject, 442-clip MEGC2019 skeleton",
    )
    synthetic.add_argument("--synthetic-seed", type=int, default=0, help="seed of the generated clips")
    synthetic.add_argument(
        "--synthetic-amplitude", type=float, default=1.0, help="multiplier of the apex displacement (1.0: 0.5-2 px; ~10: macro-expressions)"
    )
    synthetic.add_argument("--synthetic-noise", type=float, default=1.0, help="multiplier of sensor noise")
    synthetic.add_argument("--synthetic-jitter", type=float, default=1.0, help="multiplier of rigid head motion")
    synthetic.add_argument("--synthetic-identity", type=float, default=1.0, help="multiplier of how much subjects differ")
    synthetic.add_argument(
        "--synthetic-ambiguity", type=float, default=1.0, help="multiplier of how often a clip shows another class's action units"
    )


def named(function: Callable[..., object], args: argparse.Namespace) -> dict[str, object]:
    """The parsed options that ``function`` takes, by their names (what the parser stores them as)."""
    return {name: getattr(args, name) for name in inspect.signature(function).parameters}


def dataset_request(args: argparse.Namespace) -> DatasetRequest:
    """The dataset :func:`add_dataset_options`'s options name."""
    from merauto.data.request import dataset_request as request

    return request(**named(request, args))


def cache_dir(args: argparse.Namespace) -> Path:
    """``--cache-dir``, ``$MERAUTO_CACHE`` or the default cache folder."""
    from merauto.data.request import cache_dir_from

    return cache_dir_from(args.cache_dir)
