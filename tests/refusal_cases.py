"""Bad inputs a new user tries, each with the command line that tries it and what the refusal must say.

Shared by ``tests/test_refusals.py`` (each case: exit code 2, the option or file and a fix named,
no run directory left, no torch/Ray/Optuna imported unless the case needs them, seconds) and
``benchmarks/refusals.py`` (the same cases as a table of exit code, message and seconds).
"""

from __future__ import annotations

import csv
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

TINY = ["--synthetic-size", "tiny", "--max-epochs", "2"]
HEAVY = ("torch", "ray", "optuna")

# Runs the CLI in a fresh interpreter and says, last on stderr, which heavy libraries it imported
# (also after argparse's refusals, which exit by SystemExit).
DRIVER = (
    "import sys; from merauto.cli import main\ntry: code = main(sys.argv[1:])\nexcept SystemExit as exit: code = exit.code\n"
    f"print('imported: ' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr); sys.exit(code)"
)


@dataclass(frozen=True)
class Refusal:
    """A bad input: ``build(folder)`` writes what it needs into ``folder`` and returns the command line."""

    name: str
    build: Callable[[Path], list[str]]
    expect: tuple[str, ...]
    imports: tuple[str, ...] = ()  # heavy libraries the check itself needs


def command(args: list[str]) -> list[str]:
    return [sys.executable, "-c", DRIVER, *args]


def _frames(folder: Path, n: int = 4, size: int = 16, seed: int = 0, sizes: list[int] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        side = sizes[k] if sizes else size
        cv2.imwrite(str(folder / f"img{k + 1}.png"), rng.integers(40, 200, (side, side), dtype=np.uint8))


def manifest(folder: Path, edit: Callable[[list[dict[str, str]]], None] | None = None) -> Path:
    """A valid manifest of 18 clips (3 subjects x 3 classes x 2) and their frames, then ``edit`` applied to its rows."""
    rows = []
    for s in range(3):
        for c, label in enumerate(("negative", "positive", "surprise")):
            for k in range(2):
                clip = f"s{s}/c{c}{k}"
                _frames(folder / clip, seed=6 * s + 2 * c + k)
                rows.append({"subject": f"s{s}", "sample": f"s{s}c{c}{k}", "label": label, "frames_dir": clip, "onset": "1", "offset": "4"})
    if edit is not None:
        edit(rows)
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for r in rows for k in r}, key=list(rows[0]).index))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _search(folder: Path, *args: str) -> list[str]:
    return ["search", *args, "--run-dir", str(folder / "run"), "--cache-dir", str(folder / "cache")]


def _on_manifest(edit: Callable[[list[dict[str, str]]], None], *args: str) -> Callable[[Path], list[str]]:
    return lambda folder: _search(folder, "--dataset", "manifest", "--manifest", str(manifest(folder, edit)), *args)


def _set(column: str, value: str, rows: slice = slice(0, 1)) -> Callable[[list[dict[str, str]]], None]:
    def edit(table: list[dict[str, str]]) -> None:
        for row in table[rows]:
            row[column] = value

    return edit


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: nothing listens there


_LISTENING: list[socket.socket] = []  # kept open while the process lives: the refused command runs meanwhile


def _silent_port() -> int:
    """A port of 127.0.0.1 that accepts connections (the kernel completes them) and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    _LISTENING.append(server)
    return server.getsockname()[1]


def _run_folder(folder: Path, **recorded: object) -> Path:
    """``folder/earlier``, a run folder as far as commands that read its merauto.json go (no study in it), recording ``recorded`` too."""
    run = folder / "earlier"
    run.mkdir()
    record = {"study_name": "s", "storage_url": "sqlite:///study.db", "dataset": {"name": "synthetic", "synthetic": {"size": "tiny"}}}
    record |= {"outer": "loso", "inner": "holdout:0.25", "refit": True, "seed": 0}
    (run / "merauto.json").write_text(json.dumps(record | recorded))
    return run


def _resume_truncated(name: str, size: int) -> Callable[[Path], list[str]]:
    """search resuming a run folder whose real ``name`` (results.db or study.db) was cut to ``size`` bytes."""

    def build(folder: Path) -> list[str]:
        import optuna

        from merauto.results.store import ResultsStore

        run = _run_folder(folder)
        ResultsStore(run)  # its tables made
        optuna.create_study(storage=f"sqlite:///{run / 'study.db'}", study_name="s")
        with (run / name).open("r+b") as handle:
            handle.truncate(size)
        return ["search", *TINY, "--run-dir", str(run), "--cache-dir", str(folder / "cache")]

    return build


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _dashboard_on_a_taken_port(folder: Path) -> list[str]:
    return ["dashboard", str(_run_folder(folder)), "--port", str(_silent_port())]


def _mixed_sizes(folder: Path) -> list[str]:
    path = manifest(folder)
    _frames(folder / "s0/c00", sizes=[16, 16, 24, 16])
    return _search(folder, "--dataset", "manifest", "--manifest", str(path))


def _spot_under_a_file(folder: Path) -> list[str]:
    (folder / "file").write_text("not a folder")
    return ["spot", "--lv-size", "tiny", "--run-dir", str(folder / "file" / "run"), "--cache-dir", str(folder / "cache")]


def _not_a_file(folder: Path) -> list[str]:
    (folder / "file").write_text("")
    return ["search", *TINY, "--run-dir", str(folder / "file" / "run"), "--cache-dir", str(folder / "cache")]


def _predict_on_a_broken_ensemble(folder: Path) -> list[str]:
    """An export folder whose ensemble.json names no members."""
    (folder / "ensemble.json").write_text('{"members": []}')
    return ["predict", str(folder), str(folder)]


def _warm_start_from(objectives: list[str]) -> Callable[[Path], list[str]]:
    """search --warm-start from a run folder whose merauto.json records ``objectives``."""

    def build(folder: Path) -> list[str]:
        return _search(folder, *TINY, "--warm-start", str(_run_folder(folder, objectives=objectives)))

    return build


def _export_folder(export: Path) -> Path:
    """``export``, as far as predict's checks before the model loads go: an export of classes a and b."""
    export.mkdir(parents=True)
    (export / "pipeline.json").write_text('{"classes": ["a", "b"]}')
    (export / "preprocessing.json").write_text("{}")
    (export / "model.safetensors").write_bytes(b"")
    return export


def _predict_on_a_run(exported: bool) -> Callable[[Path], list[str]]:
    """predict of a clip with a search's run folder instead of an export; ``exported``: the run holds export/trial-3."""

    def build(folder: Path) -> list[str]:
        _frames(folder / "clip")
        run = _run_folder(folder)
        if exported:
            _export_folder(run / "export" / "trial-3")
        return ["predict", str(run), str(folder / "clip")]

    return build


def _predict_a_missing_folder(folder: Path) -> list[str]:
    _frames(folder / "clip")
    return ["predict", str(_export_folder(folder / "export")), str(folder / "clip"), str(folder / "nowhere")]


def _predict_csv(row: str) -> Callable[[Path], list[str]]:
    """predict --clips-csv of one clip folder ``clip`` (frames 1-4) listed as ``row``, with an export of classes a and b."""

    def build(folder: Path) -> list[str]:
        _frames(folder / "clip")
        export = _export_folder(folder / "export")
        (folder / "clips.csv").write_text(f"folder,onset,apex,offset,label\n{row}\n")
        return ["predict", str(export), "--clips-csv", str(folder / "clips.csv")]

    return build


def _spot_score(truth: str | None, spotted: str = "subject,video,onset,offset,emotion\n1,v1,10,40,others\n") -> Callable[[Path], list[str]]:
    """spot score of a coded table ``truth`` (none written when None) and a spotted table ``spotted``."""

    def build(folder: Path) -> list[str]:
        if truth is not None:
            (folder / "gt.csv").write_text(truth)
        (folder / "pred.csv").write_text(spotted)
        return ["spot", "score", "--truth", str(folder / "gt.csv"), "--spotted", str(folder / "pred.csv")]

    return build


OPTIONS = [
    Refusal("--budget 0", lambda f: _search(f, *TINY, "--budget", "0"), ("--budget 0",)),
    Refusal("unknown --dataset", lambda f: _search(f, "--dataset", "casme9"), ("--dataset 'casme9'",)),
    Refusal(
        "unknown --sources",
        lambda f: _search(f, "--dataset", "composite", "--sources", "casme2,smc"),
        ("--sources casme2,smc", "'smc' is not a source dataset", "casme2, samm, smic"),
    ),
    Refusal("--trial-timeout 0", lambda f: _search(f, *TINY, "--trial-timeout", "0"), ("--trial-timeout",)),
    Refusal("--time-budget 0", lambda f: _search(f, *TINY, "--time-budget", "0"), ("--time-budget '0'",)),
    Refusal("--time-budget abc", lambda f: _search(f, *TINY, "--time-budget", "abc"), ("--time-budget 'abc'",)),
    Refusal("--max-trial-seconds -5", lambda f: _search(f, *TINY, "--max-trial-seconds", "-5"), ("--max-trial-seconds '-5'",)),
    Refusal("--inner holdout:2", lambda f: _search(f, *TINY, "--inner", "holdout:2"), ("--inner",)),
    Refusal("--outer kfold:1", lambda f: _search(f, *TINY, "--outer", "kfold:1"), ("--outer",)),
    Refusal("--device tpu", lambda f: _search(f, *TINY, "--device", "tpu"), ("--device 'tpu'",)),
    Refusal("--amp with --device cpu", lambda f: _search(f, *TINY, "--amp", "--device", "cpu"), ("--amp",)),
    Refusal("--objectives params", lambda f: _search(f, *TINY, "--objectives", "params"), ("--objectives 'params'",)),
    Refusal("--max-params 0", lambda f: _search(f, *TINY, "--max-params", "0"), ("--max-params 0",)),
    Refusal("--max-latency-ms -1", lambda f: _search(f, *TINY, "--max-latency-ms", "-1"), ("--max-latency-ms",)),
    Refusal("--pruning asha:1", lambda f: _search(f, *TINY, "--pruning", "asha:1"), ("asha:",)),
    Refusal("--pruning race:2", lambda f: _search(f, *TINY, "--pruning", "race:2"), ("race:ALPHA",)),
    Refusal("--strict with --pruning", lambda f: _search(f, *TINY, "--strict", "--pruning", "asha"), ("--strict",)),
    Refusal(
        "--confirm with --strict", lambda f: _search(f, *TINY, "--strict", "--confirm", "2"), ("--confirm", "drop --confirm or --strict")
    ),
    Refusal("--warm-start from a folder that is no run", lambda f: _search(f, *TINY, "--warm-start", str(f)), ("not a merauto run",)),
    Refusal("--warm-start from this run", lambda f: _search(f, *TINY, "--warm-start", str(f / "run")), ("is the run directory of this",)),
    Refusal(
        "--warm-start with --strict", lambda f: _search(f, *TINY, "--strict", "--warm-start", str(f)), ("drop --warm-start or --strict",)
    ),
    Refusal("--warm-start from other objectives", _warm_start_from(["uf1", "params"]), ("optimised uf1,params", "--objectives uf1,params")),
    Refusal(
        "--warm-start from a run of another dataset",
        lambda f: _search(f, "--synthetic-size", "small", "--max-epochs", "2", "--warm-start", str(_run_folder(f))),
        (
            "--warm-start",
            "searched dataset synthetic-tiny, this search synthetic-small (--synthetic-size tiny -> small)",
            "drop --warm-start",
        ),
    ),
    Refusal("--confirm -1", lambda f: _search(f, *TINY, "--confirm", "-1"), ("--confirm -1", ">= 0")),
    Refusal("--confirm-seeds 0", lambda f: _search(f, *TINY, "--confirm", "2", "--confirm-seeds", "0"), ("--confirm-seeds 0",)),
    Refusal("--max-concurrent 0", lambda f: _search(f, *TINY, "--max-concurrent", "0"), ("--max-concurrent 0",)),
    Refusal("--startup-trials 0", lambda f: _search(f, *TINY, "--startup-trials", "0"), ("--startup-trials 0",)),
    Refusal("--max-epochs 0", lambda f: _search(f, *TINY[:2], "--max-epochs", "0"), ("--max-epochs 0",)),
    Refusal("--cpus-per-trial 100", lambda f: _search(f, *TINY, "--cpus-per-trial", "100"), ("--cpus-per-trial 100", "CPU(s)")),
    Refusal("--gpus-per-trial 1 without a GPU", lambda f: _search(f, *TINY, "--gpus-per-trial", "1"), ("--gpus-per-trial 1",), ("torch",)),
    Refusal(
        "--ray-address nobody listens at",
        lambda f: _search(f, *TINY, "--ray-address", f"127.0.0.1:{_closed_port()}"),
        ("--ray-address 127.0.0.1:", "nothing answers", "ray start --head"),
    ),
    Refusal(
        "--ray-address that accepts and never answers",
        lambda f: _search(f, *TINY, "--ray-address", f"127.0.0.1:{_silent_port()}"),
        ("--ray-address 127.0.0.1:", "accepts connections but does not answer as a Ray cluster", "ray status"),
    ),
    Refusal(
        "misspelt --budjet", lambda f: _search(f, *TINY, "--budjet", "5"), ("unrecognized arguments: --budjet 5", "did you mean --budget?")
    ),
    Refusal("--ray-address not host:port", lambda f: _search(f, *TINY, "--ray-address", "cluster"), ("is not host:port",)),
    Refusal(
        "--storage in a missing folder",
        lambda f: _search(f, *TINY, "--storage", f"sqlite:///{f}/missing/study.db"),
        ("--storage", "missing does not exist"),
    ),
    Refusal(
        "--storage of an unknown database", lambda f: _search(f, *TINY, "--storage", "nosuchdb://host/db"), ("--storage",), ("optuna",)
    ),
    Refusal("--init-checkpoint missing", lambda f: _search(f, *TINY, "--init-checkpoint", str(f / "model.pt")), ("--init-checkpoint",)),
    Refusal(
        "--init-checkpoint of a text file",
        lambda f: _search(f, *TINY, "--init-checkpoint", str(_written(f / "model.pt", "epochs: 20\n"))),
        ("--init-checkpoint", "model.pt: not the weights of a merauto export", "that merauto export wrote"),
    ),
    Refusal("--pretrain-dataset unknown", lambda f: _search(f, *TINY, "--pretrain-dataset", "imagenet"), ("--pretrain-dataset",)),
    Refusal("--classes for synthetic", lambda f: _search(f, *TINY, "--classes", "3"), ("--classes",)),
    Refusal("--data-root for synthetic", lambda f: _search(f, *TINY, "--data-root", str(f)), ("--data-root",)),
    Refusal("--run-dir under a file", _not_a_file, ("--run-dir",)),
]

DATA = [
    Refusal("manifest missing", lambda f: _search(f, "--dataset", "manifest", "--manifest", str(f / "none.csv")), ("does not exist",)),
    Refusal(
        "manifest without a label column",
        lambda f: _search(f, "--dataset", "manifest", "--manifest", str(manifest(f, lambda rows: [r.pop("label") for r in rows]))),
        ("lacks column(s) label",),
    ),
    Refusal("clips of one subject", _on_manifest(_set("subject", "s0", slice(None))), ("1 subject(s)", "at least 3")),
    Refusal("clips of two subjects", _on_manifest(_set("subject", "s0", slice(6, 12))), ("2 subject(s)",)),
    Refusal("one class", _on_manifest(_set("label", "negative", slice(None))), ("labelled 'negative'", "UF1 means nothing")),
    Refusal(
        "a misspelt label", _on_manifest(_set("label", "postive", slice(2, 3))), ("'postive'", "misspelling of 'positive'", "--classes")
    ),
    Refusal(
        "a class of one clip",
        _on_manifest(_set("label", "fear")),
        ("manifest.csv: class 'fear' has 1 clip(s), all of subject 's0' (line 2)", "never learnt", "map those rows to another class"),
    ),
    Refusal("a label outside --classes", _on_manifest(lambda rows: None, "--classes", "negative,positive"), ("surprise",)),
    Refusal("non-numeric fps", _on_manifest(_set("fps", "fast")), ("fps 'fast'", "line 2")),
    Refusal("a frames folder missing", _on_manifest(_set("frames_dir", "nowhere")), ("nowhere",)),
    Refusal("onset after offset", _on_manifest(lambda rows: rows[0].update(onset="4", offset="1")), ("line 2",)),
    Refusal("a sample listed twice", _on_manifest(lambda rows: rows.append(dict(rows[0]))), ("line 20",)),
    Refusal("frames of several sizes in one clip", _mixed_sizes, ("differ in size", "16x16", "24x24")),
]

RUNS = [
    Refusal("report of a folder that is no run", lambda f: ["report", str(f)], ("not a merauto run directory",)),
    Refusal("export of a folder that is no run", lambda f: ["export", str(f)], ("not a merauto run directory",)),
    Refusal("repeat of a folder that is no run", lambda f: ["repeat", str(f)], ("not a merauto run directory",)),
    Refusal("repeat --seeds 0", lambda f: ["repeat", str(f), "--seeds", "0"], ("--seeds 0",)),
    Refusal("report --table of no format", lambda f: ["report", str(f), "--table", "html"], ("--table 'html'", "markdown, latex, csv")),
    Refusal("spot --budget 0", lambda f: ["spot", "--budget", "0"], ("--budget 0",)),
    Refusal("spot --lv-size of no size", lambda f: ["spot", "--lv-size", "huge"], ("--lv-size 'huge'", "tiny, small")),
    Refusal("spot --run-dir under a file", _spot_under_a_file, ("--run-dir", "is a file")),
    Refusal("spot of an unknown long-video set", lambda f: ["spot", "--dataset", "casme2"], ("'casme2'", "casme2-lv", "manifest")),
    Refusal("spot --dataset manifest without its CSV", lambda f: ["spot", "--dataset", "manifest"], ("--annotations FILE",)),
    Refusal("spot of an unknown spotter", lambda f: ["spot", "--spotters", "softnet"], ("unknown spotter softnet", "shallow-cnn")),
    Refusal("spot --recognise of a folder that is no export", lambda f: ["spot", "--recognise", str(f)], ("not a merauto export",)),
    Refusal(
        "spot --storage in a missing folder", lambda f: ["spot", "--storage", f"sqlite:///{f}/none/s.db"], ("does not exist", "--storage")
    ),
    Refusal("spot --device of no device", lambda f: ["spot", "--device", "tpu"], ("--device 'tpu' is not a device",)),
    Refusal("spot --frame-step 0", lambda f: ["spot", "--dataset", "samm-lv", "--frame-step", "0"], ("--frame-step 0",)),
    Refusal("spot score --truth missing", _spot_score(None), ("--truth", "gt.csv: no such file", "subject, video, onset, offset, emotion")),
    Refusal(
        "spot score of a table without MEGC's columns",
        _spot_score("subject,video,start,end,emotion\n1,v1,10,40,others\n"),
        ("--truth", "lacks the column(s) onset, offset", "header row"),
    ),
    Refusal(
        "spot score of an onset after its offset",
        _spot_score("subject,video,onset,offset,emotion\n1,v1,10,40,others\n", "subject,video,onset,offset,emotion\n1,v1,50,40,others\n"),
        ("--spotted", "pred.csv, line 2: onset 50 is after offset 40", "swap"),
    ),
    Refusal(
        "spot score of a frame that is no whole number",
        _spot_score("subject,video,onset,offset,emotion\n1,v1,10,40.5,others\n"),
        ("gt.csv, line 2: offset '40.5' is not a whole frame number", "integer"),
    ),
    Refusal(
        "predict --video with no spotter export", lambda f: ["predict", str(f), "--video", str(f)], ("holds no spotter.json", "--export")
    ),
    Refusal("confirm of a folder that is no run", lambda f: ["confirm", str(f)], ("not a merauto run directory",)),
    Refusal("confirm --top 0", lambda f: ["confirm", str(f), "--top", "0"], ("--top 0", "--top 3")),
    Refusal("confirm --seeds 0", lambda f: ["confirm", str(f), "--seeds", "0"], ("--seeds 0",)),
    Refusal("ensemble of a folder that is no run", lambda f: ["ensemble", str(f)], ("not a merauto run directory",)),
    Refusal("ensemble --size 0", lambda f: ["ensemble", str(f), "--size", "0"], ("--size 0",)),
    Refusal("export --ensemble with --trial", lambda f: ["export", str(f), "--ensemble", "--trial", "1"], ("--ensemble", "drop --trial")),
    Refusal("export --ensemble --size 0", lambda f: ["export", str(f), "--ensemble", "--size", "0"], ("--size 0",)),
    Refusal("predict with a broken ensemble.json", _predict_on_a_broken_ensemble, ("ensemble.json", "export --ensemble")),
    Refusal("dashboard of a folder that is no run", lambda f: ["dashboard", str(f)], ("not a merauto run directory",)),
    Refusal(
        "search resuming a truncated results.db",
        _resume_truncated("results.db", 2000),
        ("results.db is damaged, truncated", "restore results.db from a copy", "another --run-dir"),
    ),
    Refusal(
        "search resuming a study.db cut to its header",
        _resume_truncated("study.db", 50),
        ("study.db is damaged, truncated", "restore study.db from a copy", "another --run-dir"),
    ),
    Refusal(
        "search resuming a run without its --max-epochs",
        lambda f: [
            "search",
            *TINY[:2],
            "--study",
            "s",
            "--run-dir",
            str(_run_folder(f, max_epochs=3, pruning="race")),
            "--cache-dir",
            str(f / "cache"),
        ],
        (
            "the study 's' in",
            "was created with other settings than this command's: - --max-epochs: the run has 3, this command",
            "pass --max-epochs 3;",
        ),
    ),
    Refusal(
        "dashboard --port in use", _dashboard_on_a_taken_port, ("--port", "is in use by another program", "pass a free port, e.g. --port")
    ),
    Refusal(
        "predict with a run folder instead of an export",
        _predict_on_a_run(exported=False),
        ("earlier is the run folder of a search and holds no export", "run merauto export", "earlier/export/trial-N"),
    ),
    Refusal(
        "predict with the run folder of an export",
        _predict_on_a_run(exported=True),
        ("earlier is the run folder of a search, not an export", "pass one of its exports:", "earlier/export/trial-3"),
    ),
    Refusal("predict with a folder that is no export", lambda f: ["predict", str(f), str(f)], ("lacks pipeline.json",)),
    Refusal("predict of a clip folder that does not exist", _predict_a_missing_folder, ("clip folder", "nowhere: no such folder")),
    Refusal("predict --clips-csv with a frame the folder lacks", _predict_csv("clip,1,9,4,a"), ("clips.csv, line 2, column apex (9)",)),
    Refusal("predict --clips-csv with a label the export lacks", _predict_csv("clip,1,,4,c"), ("line 2, column label ('c')", "a, b")),
]

CASES = OPTIONS + DATA + RUNS
