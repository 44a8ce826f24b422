"""Command line: parses arguments and calls one function per command."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merauto import __version__
from merauto.cli_parser import MerautoParser
from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError

FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def _add_resamples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of whole subjects per interval")


def _add_cache_dir(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated data and cached inputs live (default: $MERAUTO_CACHE or ~/.cache/merauto)",
    )


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    from merauto.data.datasets import DATASETS

    group = parser.add_argument_group("dataset")
    group.add_argument("--dataset", default="synthetic", help="dataset to use: " + "; ".join(f"{k}: {v}" for k, v in DATASETS.items()))
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
    _add_cache_dir(group)
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


def _named(function: Callable[..., object], args: argparse.Namespace) -> dict[str, object]:
    """The parsed options that ``function`` takes, by their names (what the parser stores them as)."""
    return {name: getattr(args, name) for name in inspect.signature(function).parameters}


def _dataset_request(args: argparse.Namespace) -> DatasetRequest:
    from merauto.data.request import dataset_request

    return dataset_request(**_named(dataset_request, args))


def _cache_dir(args: argparse.Namespace) -> Path:
    from merauto.data.request import cache_dir_from

    return cache_dir_from(args.cache_dir)


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    """`merauto search`: run or resume a search, then print its report and write report.html."""
    from merauto.orchestrator.preflight import preflight
    from merauto.orchestrator.request import search_option_defaults, search_request

    request = search_request(**{name: getattr(args, name) for name in search_option_defaults()})
    checked = preflight(request.options, console)  # bad options and data are refused before torch, Ray and Optuna are imported
    from merauto.orchestrator.search_command import search_and_report
    from merauto.results.report import print_report

    done = search_and_report(request, checked, console)
    summary, run_dir = done.summary, request.options.run_dir
    print_report(done.report, Console(), top=5)
    console.print(f"{summary.finished}/{summary.budget} trials finished ({summary.failed} failed). Report: {done.html}")
    if summary.stopped_early:
        console.print(
            "the search stopped before its budget (interrupted, or the next trial did not fit --time-budget); "
            "run the same command again to resume"
        )
        return 130
    summary.require_a_trained_trial(done.html)
    console.print(f"next: merauto report {run_dir} | merauto export {run_dir} | merauto dashboard {run_dir}")
    return 0


def cmd_prepare(args: argparse.Namespace, console: Console) -> int:
    """`merauto prepare`: fill the feature cache for a space ahead of a search."""
    from merauto.orchestrator.prepare import print_summary, run_prepare

    inputs = [name.strip() for name in args.inputs.split(",") if name.strip()] if args.inputs else None
    summary = run_prepare(_dataset_request(args), _cache_dir(args), args.space, inputs, console)
    print_summary(summary, Console())
    return 0


def cmd_datasets_check(args: argparse.Namespace, console: Console) -> int:
    """`merauto datasets check`: read every file of a dataset; exit 1 on anything that would break a search."""
    if args.dataset in LONG_VIDEO_DATASETS:
        return _check_long_video_dataset(args, console)
    from rich.progress import Progress

    from merauto.data.check import print_check
    from merauto.data.datasets import validate_dataset

    request = _dataset_request(args)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading every file of {request.label()}", total=None)
        loaded = validate_dataset(request, _cache_dir(args), lambda done, total: progress.update(task, completed=done, total=total))
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
    from merauto.data.long_video_check import check_long_video_set, print_long_video_check
    from merauto.data.long_video_sets import LONG_VIDEO_SETS

    step = LONG_VIDEO_SETS[args.dataset].default_step
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading every sheet row and every {step}. frame of {args.dataset}", total=None)
        check = check_long_video_set(
            args.dataset,
            root,
            config,
            SPOT_FRAME_SIZE,
            step,
            _cache_dir(args),
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_long_video_check(check, Console(highlight=False))
    return 1 if check.errors else 0


def cmd_datasets_list(args: argparse.Namespace, console: Console) -> int:
    """`merauto datasets list`: the datasets, their class schemes, and what the data root holds."""
    from merauto.data.datasets import DATASETS
    from merauto.data.labels import CLASS_SCHEMES
    from merauto.data.locations import DATA_ROOT_ENV, NATIVE_LAYOUTS, data_root_from, find_source

    out = Console(highlight=False)
    for name, description in DATASETS.items():
        out.print(f"[bold]{name}[/]: {description}")
        for scheme, definition in CLASS_SCHEMES.get(name, {}).items():
            out.print(f"    --classes {scheme}: {definition.description}")
    root = data_root_from(args.data_root)
    out.print(f"\ndata root: {root or f'none (pass --data-root DIR or set {DATA_ROOT_ENV})'}")
    for source, layout in NATIVE_LAYOUTS.items():
        found = find_source(source, root) if root is not None and root.is_dir() else None
        out.print(f"  {source}: {escape(found.origin) if found else 'not found; looks for ' + layout.describe()}")
    return 0


def _spot_report(args: argparse.Namespace, console: Console) -> int:
    """`merauto report` of a spotting run: its selections on the terminal, and its report.html."""
    from merauto.results.spot_report import print_spot_report
    from merauto.results.spot_report_html import write_spot_html
    from merauto.results.spot_store import load_spot_trials

    trials = load_spot_trials(args.run_dir)
    print_spot_report(trials, Console(), args.resamples)
    console.print(f"wrote {write_spot_html(trials, args.run_dir, args.html, args.resamples)}")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """`merauto report`: the leaderboard and estimates, and report.html (of a search or a spotting run)."""
    from merauto.results.arguments import check_resamples, check_table_format
    from merauto.results.run_dir import RUN_INFO, load_run

    if args.table is not None:
        check_table_format(args.table)
    check_resamples(args.resamples)
    if (args.run_dir / SPOT_RESULTS).is_file() and not (args.run_dir / RUN_INFO).is_file():
        if args.table is not None:
            raise MerautoError(f"--table writes the estimates of a recognition search; {args.run_dir} is a spotting run", "drop --table")
        return _spot_report(args, console)
    load_run(args.run_dir)  # not a run directory: refused before the report's libraries are imported
    if args.table is not None:
        from merauto.results.paper_table import paper_table
        from merauto.results.report import build_report

        print(paper_table(build_report(args.run_dir), args.table, args.resamples), end="")
        return 0
    from merauto.results.report import build_report, print_report

    report = build_report(args.run_dir)
    print_report(report, Console(), top=args.top)
    from merauto.results.report_page import write_report

    console.print(f"wrote {write_report(report, _cache_dir(args), console, args.html, args.explain)}")
    return 0


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    """`merauto audit`: what each common protocol would report, against the nested estimate."""
    from merauto.results.arguments import check_resamples
    from merauto.results.run_dir import load_run

    check_resamples(args.resamples)
    load_run(args.run_dir)
    from merauto.results.audit import load_audit, print_audit

    print_audit(load_audit(args.run_dir, args.resamples), Console())
    return 0


def cmd_ensemble(args: argparse.Namespace, console: Console) -> int:
    """`merauto ensemble`: ensembles of the search's trials, chosen on inner validation, against the best single trial."""
    from merauto.results.arguments import check_ensemble_size, check_resamples
    from merauto.results.run_dir import load_run

    check_ensemble_size(args.size)
    check_resamples(args.resamples)
    load_run(args.run_dir)
    from merauto.results.ensemble import load_ensembles, print_ensembles

    print_ensembles(load_ensembles(args.run_dir, args.size, args.resamples), Console())
    return 0


def cmd_confirm(args: argparse.Namespace, console: Console) -> int:
    """`merauto confirm`: rerun the best trials and the presets over new seeds; the selection then takes the best mean inner UF1."""
    from merauto.results.arguments import check_confirm_options
    from merauto.results.run_dir import load_run

    check_confirm_options(args.top, args.seeds, "--top", "--seeds")
    if args.top == 0:
        raise MerautoError("--top 0 confirms no trial", "pass e.g. --top 3")
    load_run(args.run_dir)
    from merauto.results.confirm import confirm_run

    summary = confirm_run(args.run_dir, args.top, args.seeds, _cache_dir(args), args.device, console)
    if summary is None:
        raise MerautoError(f"{args.run_dir} has no completed trial to confirm", "run merauto search first (or wait for a trial to finish)")
    after = summary.after
    change = "unchanged" if after.number == summary.before else f"was trial {summary.before} on the search's seed alone"
    seeds = 1 + len(after.repeat_inner)
    print(f"{summary.ran} nested evaluations run for {len(summary.candidates)} trials")
    print(f"selected trial {after.number} ({change}): mean inner UF1 {after.confirmed_score:.3f} over {seeds} seeds")
    return 0


LONG_VIDEO_DATASETS = ("casme2-lv", "samm-lv")  # merauto.data.long_video_sets.LONG_VIDEO_SETS, named here so a refusal imports nothing
SPOT_DATASETS = ("synthetic-lv", "manifest", *LONG_VIDEO_DATASETS)
SPOT_FRAME_SIZE = 128  # default --frame-size of the licensed long-video sets
SPOTTER_NAMES = ("optical-flow", "shallow-cnn")  # merauto.evaluator.spotters.SPOTTERS, named here so a refusal imports no torch
LONG_VIDEO_SIZE_NAMES = ("tiny", "small")  # merauto.data.synthetic.long_video.LONG_VIDEO_SIZES
SPOT_RESULTS = "spot_results.json"  # merauto.results.spot_store.RESULTS: a spot run that wrote it keeps its folder


def _require_subjects(subjects: int, where: str) -> None:
    if subjects < 3:
        raise MerautoError(
            f"{where} codes videos of {subjects} subject(s); nested leave-one-subject-out needs at least 3", "add videos of more subjects"
        )


def _check_long_video_options(args: argparse.Namespace) -> None:
    """Refuse the licensed long-video sets' options where they do not apply, or out of range, before anything is read."""
    from merauto.data.locations import data_root_from

    given = {
        "--data-root": args.data_root,
        "--data-config": args.data_config,
        "--frame-size": args.frame_size,
        "--frame-step": args.frame_step,
    }
    if args.dataset not in LONG_VIDEO_DATASETS:
        for option, value in given.items():
            if value is not None:
                raise MerautoError(
                    f"{option} applies to --dataset {' and '.join(LONG_VIDEO_DATASETS)}, not {args.dataset}", f"drop {option}"
                )
        return
    for option, value in (("--annotations", args.annotations), ("--fps", args.fps)):
        if value is not None:
            raise MerautoError(
                f"{option} applies to --dataset manifest; {args.dataset} is read from its distributed layout",
                f"drop {option} (the set's coding sheet and frame rate are used)",
            )
    if args.frame_size is not None and not 16 <= args.frame_size <= 512:
        raise MerautoError(f"--frame-size {args.frame_size}: the face crop must be 16 to 512 pixels a side", f"pass e.g. {SPOT_FRAME_SIZE}")
    if args.frame_step is not None and args.frame_step < 1:
        raise MerautoError(f"--frame-step {args.frame_step}: keep every N-th frame, N at least 1", "pass e.g. 1 (CAS(ME)^2) or 7 (SAMM)")
    root = data_root_from(args.data_root)
    if root is not None and not root.is_dir():
        raise MerautoError(f"--data-root {root} is not a folder", "pass the folder holding the datasets (or unset MERAUTO_DATA_ROOT)")
    if args.data_config is not None and not args.data_config.is_file():
        raise MerautoError(f"--data-config {args.data_config} does not exist", "pass the path of a TOML data config file")


def _read_long_video_set(args: argparse.Namespace, console: Console) -> list:
    """The licensed long-video set's videos, face-cropped and subsampled (cached); its sheet rows and folders are
    checked before any frame is decoded."""
    from rich.progress import Progress

    from merauto.data.locations import data_root_from, read_data_config
    from merauto.data.long_video_sets import LONG_VIDEO_SETS, read_catalogue

    config = read_data_config(args.data_config) if args.data_config else None
    with console.status(f"listing the frames of {args.dataset} and reading its coding sheet"):
        catalogue = read_catalogue(args.dataset, data_root_from(args.data_root), config)
    catalogue.require()
    _require_subjects(len({v.subject for v in catalogue.videos}), f"{catalogue.title} ({catalogue.origin})")
    console.print(f"{catalogue.title}: {escape(catalogue.origin)}", highlight=False)
    from merauto.data.long_video_frames import read_long_videos

    size, step = args.frame_size or SPOT_FRAME_SIZE, args.frame_step or LONG_VIDEO_SETS[args.dataset].default_step
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading {len(catalogue.videos)} videos (face crops of {size} px, every {step}. frame)", total=None)
        videos, found = read_long_videos(
            catalogue, size, step, _cache_dir(args), lambda done, total: progress.update(task, completed=done, total=total)
        )
    warnings = [f for f in (*catalogue.findings, *found) if not f.error]
    for finding in warnings[:3]:
        console.print(f"warning: {escape(finding.line())}", highlight=False)
    if len(warnings) > 3:
        console.print(f"... and {len(warnings) - 3} more warnings (merauto datasets check --dataset {args.dataset} lists them)")
    return videos


def _checked_spot_storage(url: str) -> str:
    """``--storage`` made absolute, refused now when its SQLite file cannot be written or its database server cannot be reached."""
    from merauto.results.run_dir import absolute_storage_url
    from merauto.results.sqlite_files import check_sqlite_writable, sqlite_path

    url = absolute_storage_url(url, Path.cwd())
    path = sqlite_path(url)
    if path is not None:
        check_sqlite_writable(path, "the spotting study", storage_option=True)
    else:
        from merauto.results.storage import open_storage  # a database server: connect now (imports Optuna)

        open_storage(url)
    return url


def _spot_label(args: argparse.Namespace) -> str:
    """The spotting study's default name: the set, and its frame size and step where they are not the defaults."""
    if args.dataset in LONG_VIDEO_DATASETS:
        from merauto.data.long_video_sets import LONG_VIDEO_SETS

        step = LONG_VIDEO_SETS[args.dataset].default_step
        size_step = (args.frame_size or SPOT_FRAME_SIZE, args.frame_step or step)
        return f"spot-{args.dataset}" + ("" if size_step == (SPOT_FRAME_SIZE, step) else f"-{size_step[0]}px-step{size_step[1]}")
    return f"spot-{args.dataset}" + (f"-{args.lv_size}" if args.dataset == "synthetic-lv" else "")


def _spot_videos(args: argparse.Namespace, console: Console) -> tuple[list, dict[str, int] | None]:
    """The long videos ``spot`` searches over, and how a licensed set's frames were cut and subsampled (for its export)."""
    if args.dataset in LONG_VIDEO_DATASETS:
        from merauto.data.long_video_sets import LONG_VIDEO_SETS

        step = args.frame_step or LONG_VIDEO_SETS[args.dataset].default_step
        return _read_long_video_set(args, console), {"frame_size": args.frame_size or SPOT_FRAME_SIZE, "step": step}
    from merauto.data.long_videos import load_long_videos
    from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos

    if args.dataset == "synthetic-lv":
        spec = LongVideoSpec(size=args.lv_size, seed=args.synthetic_seed)
        with console.status(f"generating the synthetic long videos ({args.lv_size}) on first use"):
            annotations, fps = ensure_long_videos(spec, _cache_dir(args)), spec.fps
    else:
        annotations, fps = args.annotations, args.fps
    with console.status(f"reading every frame of the videos coded in {annotations}"):
        videos = load_long_videos(annotations, fps)
    _require_subjects(len({v.subject for v in videos}), str(annotations))
    return videos, None


def _spot(args: argparse.Namespace, console: Console, spotters: list[str], run_dir: Path, label: str) -> list:
    """Read the videos, then search, report and export (:func:`merauto.orchestrator.spot_run.run_spot`)."""
    videos, preprocessing = _spot_videos(args, console)
    console.print(
        f"{len(videos)} videos, {len({v.subject for v in videos})} subjects, {sum(len(v.truth) for v in videos)} coded expressions"
    )
    if args.recognise is not None:
        from merauto.results.spot_then_recognise import require_labels

        require_labels(videos)
    from merauto.orchestrator.spot_run import SpotRequest, run_spot

    request = SpotRequest(
        run_dir, args.study or label, args.budget, args.seed, args.storage, spotters, args.device, _cache_dir(args),
        args.resamples, args.recognise, args.export, preprocessing,
    )  # fmt: skip
    return run_spot(videos, request, console)


def cmd_spot(args: argparse.Namespace, console: Console) -> int:
    """`merauto spot`: search spotters over long videos under nested leave-one-subject-out, then report F1 at IoU >= 0.5."""
    if args.budget < 1:
        raise MerautoError(f"--budget {args.budget}: the budget is a number of trials and must be at least 1", "pass e.g. --budget 30")
    if args.resamples < 100:
        raise MerautoError(f"--resamples {args.resamples} is too few for a 95% interval", "pass at least 100 (default 1000)")
    spotters = [name.strip() for name in args.spotters.split(",") if name.strip()]
    unknown = sorted(set(spotters) - set(SPOTTER_NAMES))
    if unknown or not spotters:
        raise MerautoError(
            f"--spotters {args.spotters!r}: unknown spotter {', '.join(unknown) or '(none given)'}",
            f"choose among {', '.join(SPOTTER_NAMES)}",
        )
    if args.dataset not in SPOT_DATASETS:
        raise MerautoError(
            f"--dataset {args.dataset!r} is not a long-video set merauto reads",
            f"choose one of {', '.join(SPOT_DATASETS)}: casme2-lv and samm-lv are the licensed CAS(ME)^2 and SAMM long videos "
            "found under --data-root, manifest any other set (--annotations FILE --fps F)",
        )
    _check_long_video_options(args)
    from merauto.orchestrator.options import check_device

    check_device(args.device)
    if args.storage is not None:
        args.storage = _checked_spot_storage(args.storage)
    if args.recognise is not None:
        from merauto.results.export_files import require_export

        require_export(args.recognise)
    if args.dataset == "manifest" and (args.annotations is None or not args.annotations.is_file() or not args.fps or args.fps <= 0):
        raise MerautoError(
            "--dataset manifest needs --annotations FILE (an existing annotations.csv) and --fps F > 0",
            "pass the CSV (columns subject, video, onset, apex, offset, type; frames in SUBJECT/VIDEO/ beside it) and its frame rate",
        )
    if args.dataset == "synthetic-lv" and args.lv_size not in LONG_VIDEO_SIZE_NAMES:
        raise MerautoError(f"--lv-size {args.lv_size!r} is not a size", f"choose one of {', '.join(LONG_VIDEO_SIZE_NAMES)}")
    from merauto.results.run_dir import DEFAULT_RUNS, check_writable
    from merauto.results.run_lock import run_dir_lock

    label = _spot_label(args)
    run_dir = args.run_dir or DEFAULT_RUNS / (args.study or label)
    check_writable(run_dir)
    with run_dir_lock(run_dir, SPOT_RESULTS):  # held from before the videos are read until the last file is written
        trials = _spot(args, console, spotters, run_dir, label)
    console.print(f"{len(trials)} trials in {run_dir}; rerun the command with a larger --budget to continue")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    """`merauto export`: the selected (or named) trial's pipeline refit on every subject."""
    from merauto.results.arguments import check_export_options
    from merauto.results.run_dir import load_run

    check_export_options(args.ensemble, args.trial, args.fold, args.size)
    load_run(args.run_dir)
    from merauto.results.export import export_run

    out = export_run(args.run_dir, _cache_dir(args), console, args.out, args.trial, args.fold, args.ensemble, args.size)
    console.print(f"exported to {out}")
    return 0


def cmd_repeat(args: argparse.Namespace, console: Console) -> int:
    """`merauto repeat`: the selected (or named) trial rerun over new seeds (and, with --reproduce, its own)."""
    from merauto.results.run_dir import load_run

    if args.seeds < 0 or (args.seeds == 0 and not args.reproduce):
        raise MerautoError(f"--seeds {args.seeds}: need at least one repetition", "pass e.g. --seeds 5 (or --seeds 0 with --reproduce)")
    load_run(args.run_dir)
    from merauto.results.repeat import repeat_trial

    summary = repeat_trial(args.run_dir, args.trial, args.seeds, _cache_dir(args), args.device, console, reproduce=args.reproduce)
    if summary.reproduction is not None:
        r = summary.reproduction
        print(f"trial {summary.trial} seed {r.seed} inner_uf1: {r.recomputed:.4f}, recorded by the search {r.recorded:.4f}")
    if summary.records:
        for field in ("inner_uf1", "outer_uf1", "outer_uar", "outer_accuracy"):
            mean, sd = summary.mean_sd(field)
            print(f"trial {summary.trial} {field}: {mean:.3f} ± {sd:.3f} over {len(summary.records)} seeds")
    return 1 if summary.reproduction is not None and not summary.reproduction.exact else 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    """`merauto predict`: classify clips with an export; CSV on standard output, then the scores of labelled clips."""
    from merauto.data.cache import FeatureCache
    from merauto.data.clip_list import check_labels, clips_to_classify
    from merauto.results.export_files import exported_classes, require_runnable_export

    if args.video is not None:
        return _predict_video(args, console)
    require_runnable_export(args.export_dir, args.runtime)
    clips = clips_to_classify(args.clips, args.clips_csv, args.onset, args.apex)  # checked before the model's libraries are imported
    check_labels(clips, exported_classes(args.export_dir), str(args.export_dir))
    from merauto.results.export import labelled_scores, load_export

    pipeline = load_export(args.export_dir, runtime=args.runtime)
    for line in pipeline.size_warnings([clip.folder for clip in clips]):
        console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False)
    rows = pipeline.predict_clips(clips, FeatureCache(_cache_dir(args)))
    print("clip,label," + ",".join(f"p_{c}" for c in pipeline.classes))
    for folder, label, probs in rows:
        print(f"{folder},{label}," + ",".join(f"{p:.4f}" for p in probs))
    scores = labelled_scores([clip.label for clip in clips], [label for _, label, _ in rows], pipeline.classes)
    if scores is not None:
        sys.stdout.flush()
        console.print(
            f"{scores['n']} labelled clip(s): UF1 {scores['uf1']:.4f}, UAR {scores['uar']:.4f}, accuracy {scores['accuracy']:.4f}",
            highlight=False,
        )
    return 0


def _predict_video(args: argparse.Namespace, console: Console) -> int:
    """`merauto predict SPOTTER --video V [--recognise EXPORT]`: the intervals a spotter export finds, as CSV
    (frame numbers of the video), each micro-expression classified by a recognition export when given."""
    if args.clips or args.clips_csv is not None:
        raise MerautoError("--video spots one long video; clip folders and --clips-csv are for a recognition export", "drop them")
    if not (args.export_dir / "spotter.json").is_file():  # refused before the spotters' libraries are imported
        raise MerautoError(f"{args.export_dir} holds no spotter.json", "pass a folder written by merauto spot --export")
    from merauto.data.long_videos import read_video
    from merauto.results.export_files import require_export
    from merauto.results.spotter_export import ExportedSpotter

    spotter = ExportedSpotter.load(args.export_dir)
    if args.recognise is not None:
        require_export(args.recognise)
    frames, first = read_video(args.video)
    spotted, signal = spotter.spot(frames)
    labels: dict[int, tuple[str, list[float]]] = {}
    classes: list[str] = []
    if args.recognise is not None:
        from merauto.results.spot_recognise import recognise_spotted

        classes, labels, warnings = recognise_spotted(args.recognise, args.video, frames, first, spotted, _cache_dir(args), args.runtime)
        for line in warnings:
            console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False)
    print("start,apex,end,type,score" + ("," + ",".join(["label", "confidence", *(f"p_{c}" for c in classes)]) if classes else ""))
    for k, s in enumerate(spotted):
        row = f"{first + s.interval.start},{first + s.apex},{first + s.interval.end},{s.interval.kind},{s.score:.4f}"
        if classes:
            label, probs = labels.get(k, ("", []))
            row += f",{label},{max(probs):.4f}," + ",".join(f"{p:.4f}" for p in probs) if label else "," * (len(classes) + 2)
        print(row)
    if args.timeline is not None:
        from merauto.results.spot_timeline import write_timeline

        sys.stdout.flush()
        page = write_timeline(args.timeline, args.video, frames, first, spotted, signal, spotter.thresholds, labels, spotter.step)
        console.print(f"timeline: {page}")
    return 0


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


def cmd_spot_score(args: argparse.Namespace, console: Console) -> int:
    """`merauto spot score`: MEGC's SF1, AF1 and STRS of a spotted table against a coded one."""
    from merauto.results.spot_score import print_score, score_files, score_json

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


def build_parser() -> argparse.ArgumentParser:
    """The ``merauto`` argument parser: one sub-command per function ``cmd_*``."""
    parser = MerautoParser(
        prog="merauto", description="AutoML for facial micro-expression recognition, evaluated with nested leave-one-subject-out."
    )
    parser.add_argument("--version", action="version", version=f"merauto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser(
        "search",
        help="search MER pipelines with Optuna on Ray Tune, scored by nested LOSO",
        formatter_class=FORMATTER,
        description="Search MER pipelines. Optuna sees inner-validation UF1 only; test subjects never inform a choice. "
        "Running the same command again resumes the study until the budget is reached.",
    )
    _add_dataset_options(search)
    run = search.add_argument_group("study")
    run.add_argument("--budget", type=int, default=20, help="number of finished trials the study should hold")
    run.add_argument("--study", default=None, help="study name (default: the dataset's name, e.g. synthetic-small)")
    run.add_argument(
        "--run-dir", type=Path, default=None, help="folder for the study, results, report and exports (default: merauto-runs/<study>)"
    )
    run.add_argument(
        "--storage", default=None, help="Optuna storage URL, e.g. postgresql://user:pass@host/db (default: sqlite file in the run dir)"
    )
    run.add_argument(
        "--max-epochs", type=int, default=80, help="upper bound of each trial's sampled epoch limit (lower: a faster, coarser search)"
    )
    run.add_argument(
        "--time-budget",
        default=None,
        metavar="DURATION",
        help="end the search after this wall time (3h, 90m, 1h30m or seconds): no trial starts that the cost model predicts "
        "would overrun it; trials still running at the end are re-run on resume",
    )
    run.add_argument(
        "--max-trial-seconds",
        default="auto",
        metavar="DURATION",
        help="a proposal whose training the cost model predicts to take longer is not trained and does not count against "
        "--budget: the sampler learns it is infeasible and proposes again. auto (default): 8 times the STSTNet preset's "
        "predicted time on this dataset and device; none: no limit; or a duration (20m, 1200)",
    )
    run.add_argument(
        "--trial-timeout",
        type=float,
        default=None,
        help="a trial running longer than this many seconds fails (recorded, the search goes on); default: no limit",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial's training")
    run.add_argument(
        "--seed-presets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enqueue the literature presets (STSTNet-like) as the first trials (default; --no-seed-presets to sample only)",
    )
    search.add_argument(
        "--sampler",
        default="local",
        choices=("tpe", "local"),
        help="local (default): half of the trials after the first complete one mutate the best trial so far (chosen on "
        "inner-validation UF1), the others are TPE's; tpe: Optuna's multivariate TPE alone",
    )
    search.add_argument(
        "--startup-trials",
        type=int,
        default=10,
        help="TPE samples at random until the study holds this many trials, enqueued presets included",
    )
    search.add_argument(
        "--warm-start",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="the sampler also learns from this earlier run's finished trials (inner-validation scores; e.g. a search of the same "
        "dataset with another seed or budget): they count towards --startup-trials but are not trials of this study",
    )
    run.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="K",
        help="after the search, rerun the K best trials and the presets over --confirm-seeds new seeds and select by the mean "
        "inner-validation UF1 (as merauto confirm); 0: select on the search's single seed",
    )
    run.add_argument("--confirm-seeds", type=int, default=2, help="new seeds per trial for --confirm")
    protocol = search.add_argument_group("protocol")
    protocol.add_argument(
        "--outer",
        default="loso",
        help="outer loop: loso, kfold:K (subject-grouped), lodo (leave one source dataset out) or lovo (leave one video out; "
        "not subject-independent)",
    )
    protocol.add_argument(
        "--pruning",
        default=None,
        help="multi-fidelity over folds (default: race, or none with --strict): none; race[:ALPHA] (score trials on a "
        "stratified 1/16 of the folds first, then 1/4, then all, and stop a trial that a paired t-test over the rung's folds puts "
        "below the rung's leader at ALPHA, default 0.05); or asha[:ETA] (rungs of 1/ETA^2, 1/ETA, all folds; Ray Tune's ASHA "
        "stops a trial below the rung's top 1/ETA so far; ETA default 4). Only all-fold trials can be selected",
    )
    protocol.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run an independent study (--budget trials) per outer fold, so even the sampler's proposals for fold k never saw subject k",
    )
    protocol.add_argument(
        "--inner", default="holdout:0.25", help="inner validation inside each outer fold's training subjects: holdout:F, kfold:K or loso"
    )
    protocol.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="refit on all of a fold's training subjects for the selected epochs before predicting its test subject",
    )
    protocol.add_argument(
        "--objectives",
        default="uf1",
        help="what to optimise: uf1 (inner-validation UF1), or UF1 against cost: uf1,params, uf1,latency or uf1,params,latency "
        "(trainable parameters; median per-clip latency of the trial's model in onnxruntime, batch 1, one CPU thread). Several "
        "objectives make a multi-objective study with a Pareto front; multi-fidelity rungs prune on UF1 alone",
    )
    protocol.add_argument("--max-params", type=int, default=None, help="constraint: trials with more trainable parameters are infeasible")
    protocol.add_argument(
        "--max-latency-ms",
        type=float,
        default=None,
        help="constraint: trials slower than this (ms per clip, as for latency) are infeasible",
    )
    protocol.add_argument(
        "--audit",
        action="store_true",
        help="also record each fold's test predictions after every epoch of a test model trained to the maximum epochs, so "
        "merauto audit can show what leaky protocols (last epoch, best test epoch, best trial by test score) would report; "
        "never read by the sampler, pruner or early stopping",
    )
    protocol.add_argument(
        "--init-checkpoint",
        type=Path,
        default=None,
        help="model.safetensors (or model.pt) of a merauto export (same network) that strategy=finetune starts from; "
        "trained on other subjects than these",
    )
    protocol.add_argument(
        "--pretrain-dataset",
        default=None,
        help="or: pre-train each strategy=finetune trial's network on this separate dataset first (synthetic-macro: "
        "synthetic macro-expressions of a generated population of their own)",
    )
    compute = search.add_argument_group("compute")
    compute.add_argument(
        "--ray-address", default=None, help="join an existing Ray cluster (e.g. ray://host:10001 or auto); default: start Ray locally"
    )
    compute.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs reserved per trial (also its torch threads)")
    compute.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs reserved per trial (fractions share a GPU)")
    compute.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: as many as the resources fit)")
    compute.add_argument(
        "--fold-batching",
        default="auto",
        help="train a trial's many fold models as one batched computation (vmap) or one by one (loop); auto: vmap on CUDA",
    )
    compute.add_argument(
        "--device", default="auto", help="torch device for training: auto (CUDA when a trial sees a GPU), cpu, cuda or cuda:N"
    )
    compute.add_argument("--amp", action="store_true", help="mixed precision on CUDA: bfloat16 autocast of forward passes (ignored on CPU)")
    search.set_defaults(handler=cmd_search)

    prepare = commands.add_parser(
        "prepare",
        help="compute and cache the inputs of a search space ahead of a search",
        formatter_class=FORMATTER,
        description="Fill the feature cache (content-addressed; shared safely by parallel workers) and report, per stream "
        "kind, how many arrays were computed and how many were already cached.",
    )
    _add_dataset_options(prepare)
    prepare.add_argument(
        "--space",
        default="defaults",
        help="which streams: defaults (each input's default, what search prepares) or full (every stream a search can sample)",
    )
    prepare.add_argument("--inputs", default=None, help="comma-separated inputs to prepare (default: every input the dataset can give)")
    prepare.set_defaults(handler=cmd_prepare)
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
    _add_dataset_options(check)
    check.set_defaults(handler=cmd_datasets_check)
    listing = datasets_commands.add_parser(
        "list", help="the datasets, their class schemes, and which are found under the data root", formatter_class=FORMATTER
    )
    listing.add_argument("--data-root", type=Path, default=None, help="folder to look in (default: $MERAUTO_DATA_ROOT)")
    listing.set_defaults(handler=cmd_datasets_list)

    report = commands.add_parser(
        "report", help="print the leaderboard and write report.html of a run (merauto search or merauto spot)", formatter_class=FORMATTER
    )
    report.add_argument("run_dir", type=Path, help="run directory written by merauto search or merauto spot")
    report.add_argument("--top", type=int, default=10, help="rows of the leaderboard to print")
    report.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of subjects per interval (spotting, --table)")
    report.add_argument(
        "--table",
        default=None,
        metavar="FORMAT",
        help="print the estimates as a table for a paper instead (markdown, latex or csv): the nested estimate first, the global "
        "selection, the presets as reference rows, UF1/UAR with intervals overall and per source, the audit's rows",
    )
    report.add_argument("--html", type=Path, default=None, help="where to write the HTML report (default: RUN_DIR/report.html)")
    report.add_argument(
        "--explain",
        action="store_true",
        help="add explanation maps of the selected pipeline (integrated gradients over its training clips; exports it first "
        "when RUN_DIR/export has no export of it; needs pip install 'merauto[explain]')",
    )
    _add_cache_dir(report)
    report.set_defaults(handler=cmd_report)

    audit = commands.add_parser(
        "audit",
        help="what each common protocol (last epoch, best test epoch, best trial by test score) would report, against the nested estimate",
        formatter_class=FORMATTER,
        description="Pooled test UF1/UAR (overall and per source) under each protocol, with subject-level paired bootstrap "
        "intervals of the difference to the nested estimate. The epoch-level protocols need a search run with --audit.",
    )
    audit.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    _add_resamples(audit)
    audit.set_defaults(handler=cmd_audit)

    ensemble = commands.add_parser(
        "ensemble",
        help="ensembles of the search's trials chosen on inner validation only, against the best single trial",
        formatter_class=FORMATTER,
        description="Greedy forward selection with replacement (Caruana et al.) over the completed trials, maximising the UF1 "
        "of their averaged inner-validation probabilities. The per-fold ensemble chooses fold k's members on fold k's inner "
        "validation only (the nested estimate); the global one on every fold's pooled inner validation (slightly optimistic). "
        "Test predictions average the members' stored test probabilities: nothing is retrained.",
    )
    ensemble.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    ensemble.add_argument("--size", type=int, default=20, help="selection steps (members are picked with replacement)")
    _add_resamples(ensemble)
    ensemble.set_defaults(handler=cmd_ensemble)

    export = commands.add_parser(
        "export", help="write the selected pipeline (config, preprocessing, weights refit on all subjects)", formatter_class=FORMATTER
    )
    export.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    export.add_argument(
        "--trial", type=int, default=None, help="trial number to export (default: the global selection, best inner-validation UF1)"
    )
    export.add_argument("--fold", type=int, default=None, help="strict runs only: the outer fold whose selected pipeline to export")
    export.add_argument(
        "--ensemble",
        action="store_true",
        help="export the run's global ensemble instead (merauto ensemble): each member refit on all subjects, predictions averaged",
    )
    export.add_argument("--size", type=int, default=20, help="with --ensemble: selection steps (members are picked with replacement)")
    export.add_argument("--out", type=Path, default=None, help="output folder (default: RUN_DIR/export/trial-N or RUN_DIR/export/ensemble)")
    _add_cache_dir(export)
    export.set_defaults(handler=cmd_export)

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
    _add_cache_dir(repeat)
    repeat.set_defaults(handler=cmd_repeat)

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
    _add_resamples(spot)
    _add_cache_dir(spot)
    spot.set_defaults(handler=cmd_spot)
    spot.epilog = "merauto spot score --truth GT.csv --spotted PRED.csv [--json]: MEGC's STRS of a table of spotted expressions (no search)"

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
    _add_cache_dir(confirm)
    confirm.set_defaults(handler=cmd_confirm)

    predict = commands.add_parser(
        "predict", help="classify new clips (folders of numbered frames) with an exported pipeline", formatter_class=FORMATTER
    )
    predict.add_argument("export_dir", type=Path, help="folder written by merauto export")
    predict.add_argument("clips", type=Path, nargs="*", help="clip folders holding numbered frames (or --clips-csv)")
    predict.add_argument(
        "--video",
        type=Path,
        default=None,
        help="with a spotter export (merauto spot --export): spot micro- and macro-expressions in this video file or folder of "
        "frames; CSV of start, apex, end, type, score",
    )
    predict.add_argument(
        "--recognise",
        type=Path,
        default=None,
        metavar="EXPORT",
        help="with --video: classify each spotted micro-expression (onset, apex and offset as spotted) with this recognition export",
    )
    predict.add_argument(
        "--timeline",
        type=Path,
        default=None,
        metavar="FILE.html",
        help="with --video: also write a page with the motion signals, the spotted intervals and each apex frame",
    )
    predict.add_argument("--onset", type=int, default=None, help="onset frame number of the folders named (default: the first frame)")
    predict.add_argument("--apex", type=int, default=None, help="apex frame number of the folders named (default: spotted)")
    predict.add_argument(
        "--clips-csv",
        type=Path,
        default=None,
        help="CSV of the clips instead: column folder (relative to the CSV's folder) and optionally onset, apex, offset "
        "(frame numbers) and label (then UF1, UAR and accuracy are printed after the predictions)",
    )
    predict.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        default="torch",
        help="what runs the network: torch on model.safetensors, or onnxruntime on model.onnx (same predictions)",
    )
    _add_cache_dir(predict)
    predict.set_defaults(handler=cmd_predict)

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
