"""What `merauto spot` is asked to do, checked before anything heavy is imported, and the whole run:
the run folder's lock, the long videos read (generated, a manifest, or a licensed set from its
distributed layout), then :func:`~merauto.orchestrator.spot_run.run_spot`.

The options arrive by their command-line names (underscores for dashes), as for search's
:func:`~merauto.orchestrator.request.search_request`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merauto.data.locations import data_root_from
from merauto.errors import MerautoError

LONG_VIDEO_DATASETS = ("casme2-lv", "samm-lv")  # merauto.data.long_videos.sets.LONG_VIDEO_SETS, named here so a refusal imports nothing
SPOT_DATASETS = ("synthetic-lv", "manifest", *LONG_VIDEO_DATASETS)
SPOT_FRAME_SIZE = 128  # default --frame-size of the licensed long-video sets
SPOTTER_NAMES = ("optical-flow", "shallow-cnn")  # merauto.evaluator.spotters.SPOTTERS, named here so a refusal imports no torch
LONG_VIDEO_SIZE_NAMES = ("tiny", "small")  # merauto.data.synthetic.long_video.LONG_VIDEO_SIZES
SPOT_RESULTS = "spot_results.json"  # merauto.results.spotting.store.RESULTS: a spot run that wrote it keeps its folder


@dataclass
class SpotOptions:
    """The options of one `merauto spot` run, by their command-line names; ``storage`` is made absolute by :func:`check_spot`."""

    dataset: str = "synthetic-lv"
    data_root: Path | None = None
    data_config: Path | None = None
    frame_size: int | None = None
    frame_step: int | None = None
    lv_size: str = "small"
    synthetic_seed: int = 0
    annotations: Path | None = None
    fps: float | None = None
    budget: int = 30
    study: str | None = None
    run_dir: Path | None = None
    storage: str | None = None
    seed: int = 0
    recognise: Path | None = None
    device: str = "auto"
    spotters: str = ",".join(SPOTTER_NAMES)
    export: bool = False
    resamples: int = 1000
    cache_dir: Path | None = None

    def spotter_names(self) -> list[str]:
        """The spotters ``--spotters`` names, in its order."""
        return [name.strip() for name in self.spotters.split(",") if name.strip()]

    def label(self) -> str:
        """The study's default name: the set, and its frame size and step where they are not the defaults."""
        if self.dataset in LONG_VIDEO_DATASETS:
            step = self.default_step()
            size_step = (self.frame_size or SPOT_FRAME_SIZE, self.frame_step or step)
            return f"spot-{self.dataset}" + ("" if size_step == (SPOT_FRAME_SIZE, step) else f"-{size_step[0]}px-step{size_step[1]}")
        return f"spot-{self.dataset}" + (f"-{self.lv_size}" if self.dataset == "synthetic-lv" else "")

    def default_step(self) -> int:
        """A licensed long-video set's default frame step."""
        from merauto.data.long_videos.sets import LONG_VIDEO_SETS

        return LONG_VIDEO_SETS[self.dataset].default_step

    def resolved_run_dir(self) -> Path:
        """``--run-dir``, or the default run folder of the study."""
        from merauto.results.run_dir import DEFAULT_RUNS

        return self.run_dir or DEFAULT_RUNS / (self.study or self.label())

    def resolved_cache_dir(self) -> Path:
        """``--cache-dir``, ``$MERAUTO_CACHE`` or the default cache folder."""
        from merauto.data.request import cache_dir_from

        return cache_dir_from(self.cache_dir)


def _require_subjects(subjects: int, where: str) -> None:
    if subjects < 3:
        raise MerautoError(
            f"{where} codes videos of {subjects} subject(s); nested leave-one-subject-out needs at least 3", "add videos of more subjects"
        )


def check_spot(options: SpotOptions) -> None:
    """Refuse a bad option, naming it and the fix, before any video is read or torch imported."""
    if options.budget < 1:
        raise MerautoError(f"--budget {options.budget}: the budget is a number of trials and must be at least 1", "pass e.g. --budget 30")
    if options.resamples < 100:
        raise MerautoError(f"--resamples {options.resamples} is too few for a 95% interval", "pass at least 100 (default 1000)")
    spotters = options.spotter_names()
    unknown = sorted(set(spotters) - set(SPOTTER_NAMES))
    if unknown or not spotters:
        raise MerautoError(
            f"--spotters {options.spotters!r}: unknown spotter {', '.join(unknown) or '(none given)'}",
            f"choose among {', '.join(SPOTTER_NAMES)}",
        )
    if options.dataset not in SPOT_DATASETS:
        raise MerautoError(
            f"--dataset {options.dataset!r} is not a long-video set merauto reads",
            f"choose one of {', '.join(SPOT_DATASETS)}: casme2-lv and samm-lv are the licensed CAS(ME)^2 and SAMM long videos "
            "found under --data-root, manifest any other set (--annotations FILE --fps F)",
        )
    _check_long_video_options(options)
    from merauto.orchestrator.options import check_device

    check_device(options.device)
    if options.storage is not None:
        options.storage = _checked_storage(options.storage)
    if options.recognise is not None:
        from merauto.results.export.files import require_export

        require_export(options.recognise)
    annotations, fps = options.annotations, options.fps
    if options.dataset == "manifest" and (annotations is None or not annotations.is_file() or not fps or fps <= 0):
        raise MerautoError(
            "--dataset manifest needs --annotations FILE (an existing annotations.csv) and --fps F > 0",
            "pass the CSV (columns subject, video, onset, apex, offset, type; frames in SUBJECT/VIDEO/ beside it) and its frame rate",
        )
    if options.dataset == "synthetic-lv" and options.lv_size not in LONG_VIDEO_SIZE_NAMES:
        raise MerautoError(f"--lv-size {options.lv_size!r} is not a size", f"choose one of {', '.join(LONG_VIDEO_SIZE_NAMES)}")
    from merauto.results.run_dir import check_writable

    check_writable(options.resolved_run_dir())


def _check_long_video_options(options: SpotOptions) -> None:
    """Refuse the licensed long-video sets' options where they do not apply, or out of range."""
    given = {
        "--data-root": options.data_root,
        "--data-config": options.data_config,
        "--frame-size": options.frame_size,
        "--frame-step": options.frame_step,
    }
    if options.dataset not in LONG_VIDEO_DATASETS:
        for option, value in given.items():
            if value is not None:
                raise MerautoError(
                    f"{option} applies to --dataset {' and '.join(LONG_VIDEO_DATASETS)}, not {options.dataset}", f"drop {option}"
                )
        return
    for option, value in (("--annotations", options.annotations), ("--fps", options.fps)):
        if value is not None:
            raise MerautoError(
                f"{option} applies to --dataset manifest; {options.dataset} is read from its distributed layout",
                f"drop {option} (the set's coding sheet and frame rate are used)",
            )
    if options.frame_size is not None and not 16 <= options.frame_size <= 512:
        raise MerautoError(
            f"--frame-size {options.frame_size}: the face crop must be 16 to 512 pixels a side", f"pass e.g. {SPOT_FRAME_SIZE}"
        )
    if options.frame_step is not None and options.frame_step < 1:
        raise MerautoError(f"--frame-step {options.frame_step}: keep every N-th frame, N at least 1", "pass e.g. 1 (CAS(ME)^2) or 7 (SAMM)")
    root = data_root_from(options.data_root)
    if root is not None and not root.is_dir():
        raise MerautoError(f"--data-root {root} is not a folder", "pass the folder holding the datasets (or unset MERAUTO_DATA_ROOT)")
    if options.data_config is not None and not options.data_config.is_file():
        raise MerautoError(f"--data-config {options.data_config} does not exist", "pass the path of a TOML data config file")


def _checked_storage(url: str) -> str:
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


def _read_long_video_set(options: SpotOptions, console: Console) -> list:
    """The licensed long-video set's videos, face-cropped and subsampled (cached); its sheet rows and folders are
    checked before any frame is decoded."""
    from rich.progress import Progress

    from merauto.data.locations import read_data_config
    from merauto.data.long_videos.sets import read_catalogue

    config = read_data_config(options.data_config) if options.data_config else None
    with console.status(f"listing the frames of {options.dataset} and reading its coding sheet"):
        catalogue = read_catalogue(options.dataset, data_root_from(options.data_root), config)
    catalogue.require()
    _require_subjects(len({v.subject for v in catalogue.videos}), f"{catalogue.title} ({catalogue.origin})")
    console.print(f"{catalogue.title}: {escape(catalogue.origin)}", highlight=False)
    from merauto.data.long_videos.frames import read_long_videos  # imports torch: after the sheet and folders are checked

    size, step = options.frame_size or SPOT_FRAME_SIZE, options.frame_step or options.default_step()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"reading {len(catalogue.videos)} videos (face crops of {size} px, every {step}. frame)", total=None)
        videos, found = read_long_videos(
            catalogue, size, step, options.resolved_cache_dir(), lambda done, total: progress.update(task, completed=done, total=total)
        )
    warnings = [f for f in (*catalogue.findings, *found) if not f.error]
    for finding in warnings[:3]:
        console.print(f"warning: {escape(finding.line())}", highlight=False)
    if len(warnings) > 3:
        console.print(f"... and {len(warnings) - 3} more warnings (merauto datasets check --dataset {options.dataset} lists them)")
    return videos


def read_spot_videos(options: SpotOptions, console: Console) -> tuple[list, dict[str, int] | None]:
    """The long videos ``spot`` searches over, and how a licensed set's frames were cut and subsampled (for its export)."""
    if options.dataset in LONG_VIDEO_DATASETS:
        preprocessing = {"frame_size": options.frame_size or SPOT_FRAME_SIZE, "step": options.frame_step or options.default_step()}
        return _read_long_video_set(options, console), preprocessing
    from merauto.data.long_videos.folders import load_long_videos
    from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos

    if options.dataset == "synthetic-lv":
        spec = LongVideoSpec(size=options.lv_size, seed=options.synthetic_seed)
        with console.status(f"generating the synthetic long videos ({options.lv_size}) on first use"):
            annotations, fps = ensure_long_videos(spec, options.resolved_cache_dir()), spec.fps
    else:
        annotations, fps = options.annotations, options.fps
    with console.status(f"reading every frame of the videos coded in {annotations}"):
        videos = load_long_videos(annotations, fps)
    _require_subjects(len({v.subject for v in videos}), str(annotations))
    return videos, None


def spot(options: SpotOptions, console: Console) -> tuple[Path, list]:
    """Check the options, then, holding the run folder's lock from before the videos are read until the last
    file is written, read them and search, report and export. Returns the run folder and its finished trials."""
    check_spot(options)
    from merauto.results.run_lock import run_dir_lock

    run_dir = options.resolved_run_dir()
    with run_dir_lock(run_dir, SPOT_RESULTS):
        videos, preprocessing = read_spot_videos(options, console)
        console.print(
            f"{len(videos)} videos, {len({v.subject for v in videos})} subjects, {sum(len(v.truth) for v in videos)} coded expressions"
        )
        if options.recognise is not None:
            from merauto.results.spotting.then_recognise import require_labels

            require_labels(videos)
        from merauto.orchestrator.spot_run import SpotRequest, run_spot

        request = SpotRequest(
            run_dir, options.study or options.label(), options.budget, options.seed, options.storage, options.spotter_names(),
            options.device, options.resolved_cache_dir(), options.resamples, options.recognise, options.export, preprocessing,
        )  # fmt: skip
        return run_dir, run_spot(videos, request, console)
