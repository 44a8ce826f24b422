"""`merauto spot` and `merauto spot score`: spotters searched over long videos, and MEGC's STRS of any spotter's output."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merauto.cli.parser import FORMATTER, Commands, MerautoParser, add_cache_dir, add_resamples, named
from merauto.orchestrator.spot_command import SPOT_FRAME_SIZE, SPOTTER_NAMES, SpotOptions


def cmd_spot(args: argparse.Namespace, console: Console) -> int:
    """`merauto spot`: search spotters over long videos under nested leave-one-subject-out, then report F1 at IoU >= 0.5."""
    from merauto.orchestrator.spot_command import spot

    run_dir, trials = spot(SpotOptions(**named(SpotOptions, args)), console)
    console.print(f"{len(trials)} trials in {run_dir}; rerun the command with a larger --budget to continue")
    return 0


def cmd_spot_score(args: argparse.Namespace, console: Console) -> int:
    """`merauto spot score`: MEGC's SF1, AF1 and STRS of a spotted table against a coded one."""
    from merauto.results.spotting.score import print_score, score_files, score_json

    score = score_files(args.truth, args.spotted)
    if args.json:
        print(score_json(score))
    else:
        print_score(score, Console())
    return 0


def build_spot_score_parser() -> argparse.ArgumentParser:
    """The parser of ``merauto spot score`` (apart from ``spot``'s, whose options it shares nothing with)."""
    parser = MerautoParser(
        prog="merauto spot score",
        formatter_class=FORMATTER,
        description="MEGC's SF1, AF1 and STRS of a table of spotted expressions against the coded ones, exactly as MEGC's official "
        "STRS script (genbing99/STRS-Metric) computes them: per video, spotted rows in file order matched to coded rows at "
        "IoU >= 0.5, SF1 the pooled F1, AF1 the harmonic mean of the macro precision and recall of the true positives' emotions, "
        "STRS = SF1 x AF1. Both CSVs have the columns subject, video, onset, offset, emotion (inclusive frames).",
    )
    parser.add_argument("--truth", type=Path, required=True, metavar="GT.csv", help="the coded expressions (MEGC's gt.csv)")
    parser.add_argument("--spotted", type=Path, required=True, metavar="PRED.csv", help="the spotted expressions (MEGC's pred.csv)")
    parser.add_argument("--json", action="store_true", help="print the scores and counts as JSON instead of tables")
    parser.set_defaults(handler=cmd_spot_score)
    return parser


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    spot = commands.add_parser(
        "spot",
        help="search spotters of micro- and macro-expressions in long videos (nested leave-one-subject-out, F1 at IoU >= 0.5)",
        formatter_class=FORMATTER,
        description="An Optuna search over the registered spotters (the MEGC optical-flow baseline and a SOFTNet-like shallow "
        "network trained on the flow around each frame) and their windows, smoothing and peak distance. Each trial is scored "
        "by nested leave-one-subject-out: per test subject the detection threshold is chosen on "
        "the other subjects only, and the search sees an inner F1 computed without it. Reports pooled F1 per type (micro, macro) "
        "and overall with subject-bootstrap intervals. Rerun the same command to resume.",
    )
    spot.add_argument(
        "--dataset",
        default="synthetic-lv",
        help="synthetic-lv (generated long videos), casme2-lv or samm-lv (the licensed CAS(ME)^2 and SAMM long videos in their "
        "distributed layouts, under --data-root) or manifest (--annotations)",
    )
    spot.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="casme2-lv, samm-lv: folder holding the licensed datasets under their distributed names, found up to 3 levels down "
        "(default: $MERAUTO_DATA_ROOT)",
    )
    spot.add_argument(
        "--data-config",
        type=Path,
        default=None,
        help='casme2-lv, samm-lv: TOML file of their paths: [casme2-lv] frames = "...", coding = "..."',
    )
    spot.add_argument(
        "--frame-size",
        type=int,
        default=None,
        help=f"casme2-lv, samm-lv: side of the grey face crop each frame is resized to (default {SPOT_FRAME_SIZE})",
    )
    spot.add_argument(
        "--frame-step",
        type=int,
        default=None,
        help="casme2-lv, samm-lv: keep every N-th frame (default 1 for casme2-lv at 30 fps, 7 for samm-lv: 200/7 = 28.6 fps)",
    )
    spot.add_argument("--lv-size", default="small", help="synthetic-lv: tiny (3 subjects, 12 s) or small (6 subjects, 2 videos of 60 s)")
    spot.add_argument("--synthetic-seed", type=int, default=0, help="synthetic-lv: seed of the generated videos")
    spot.add_argument("--annotations", type=Path, default=None, help="manifest: annotations.csv (frames in SUBJECT/VIDEO/ beside it)")
    spot.add_argument("--fps", type=float, default=None, help="manifest: the videos' frame rate")
    spot.add_argument("--budget", type=int, default=30, help="number of finished trials the study should hold")
    spot.add_argument("--study", default=None, help="study name (default: spot-<dataset>)")
    spot.add_argument("--run-dir", type=Path, default=None, help="folder for the study and results (default: merauto-runs/<study>)")
    spot.add_argument("--storage", default=None, help="Optuna storage URL (default: sqlite file in the run dir)")
    spot.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    spot.add_argument(
        "--recognise",
        type=Path,
        default=None,
        metavar="EXPORT",
        help="then score spot-then-recognise: each fold's correctly spotted micro-expressions classified by this recognition export "
        "(merauto export; trained on other subjects), SF1 x AF1 as in MEGC2023, to RUN_DIR/spot_then_recognise.json",
    )
    spot.add_argument("--device", default="auto", help="torch device of the learned spotters: auto (CUDA when seen), cpu, cuda or cuda:N")
    spot.add_argument(
        "--spotters",
        default=",".join(SPOTTER_NAMES),
        help=f"comma-separated spotters to search among (default: all): {', '.join(SPOTTER_NAMES)}",
    )
    spot.add_argument(
        "--export",
        action="store_true",
        help="then write the selected spotter, its thresholds chosen on every subject, to RUN_DIR/export/spotter (for predict --video)",
    )
    add_resamples(spot)
    add_cache_dir(spot)
    spot.set_defaults(handler=cmd_spot)
    spot.epilog = "merauto spot score --truth GT.csv --spotted PRED.csv [--json]: MEGC's STRS of a table of spotted expressions (no search)"
