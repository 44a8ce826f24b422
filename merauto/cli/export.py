"""`merauto export` and `merauto predict`: the selected pipeline written out, and new clips or videos classified with it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from merauto.cli.parser import FORMATTER, Commands, add_cache_dir, cache_dir
from merauto.errors import MerautoError


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    """`merauto export`: the selected (or named) trial's pipeline refit on every subject."""
    from merauto.results.arguments import check_export_options
    from merauto.results.run_dir import load_run

    check_export_options(args.ensemble, args.trial, args.fold, args.size)
    load_run(args.run_dir)
    from merauto.results.export.pipeline import export_run

    out = export_run(args.run_dir, cache_dir(args), console, args.out, args.trial, args.fold, args.ensemble, args.size)
    console.print(f"exported to {out}")
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    """`merauto predict`: classify clips with an export; CSV on standard output, then the scores of labelled clips."""
    from merauto.data.cache import FeatureCache
    from merauto.data.clip_list import check_labels, clips_to_classify
    from merauto.results.export.files import exported_classes, require_runnable_export

    if args.video is not None:
        return _predict_video(args, console)
    require_runnable_export(args.export_dir, args.runtime)
    clips = clips_to_classify(args.clips, args.clips_csv, args.onset, args.apex)  # checked before the model's libraries are imported
    check_labels(clips, exported_classes(args.export_dir), str(args.export_dir))
    from merauto.results.export.pipeline import labelled_scores, load_export

    pipeline = load_export(args.export_dir, runtime=args.runtime)
    for line in pipeline.size_warnings([clip.folder for clip in clips]):
        console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False)
    rows = pipeline.predict_clips(clips, FeatureCache(cache_dir(args)))
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
    from merauto.data.long_videos.folders import read_video
    from merauto.results.export.files import require_export
    from merauto.results.spotting.export import ExportedSpotter

    spotter = ExportedSpotter.load(args.export_dir)
    if args.recognise is not None:
        require_export(args.recognise)
    frames, first = read_video(args.video)
    spotted, signal = spotter.spot(frames)
    labels: dict[int, tuple[str, list[float]]] = {}
    classes: list[str] = []
    if args.recognise is not None:
        from merauto.results.spotting.recognise import recognise_spotted

        classes, labels, warnings = recognise_spotted(args.recognise, args.video, frames, first, spotted, cache_dir(args), args.runtime)
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
        from merauto.results.spotting.timeline import write_timeline

        sys.stdout.flush()
        page = write_timeline(args.timeline, args.video, frames, first, spotted, signal, spotter.thresholds, labels, spotter.step)
        console.print(f"timeline: {page}")
    return 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
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
    add_cache_dir(export)
    export.set_defaults(handler=cmd_export)

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
    add_cache_dir(predict)
    predict.set_defaults(handler=cmd_predict)
