"""A run folder a researcher can archive, move and share: it reports and resumes where it lies now,
its export names no local path and loads no pickled object, predict says when clips differ from
training's, the report embeds no face, and the dashboard warns before it listens beyond this machine."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import optuna
import pytest
import torch
from commands import free_port, merauto

from merauto.data.frames import ordered_frames
from merauto.errors import MerautoError
from merauto.evaluator.weights_file import load_weights
from merauto.results.export.pipeline import ExportedPipeline
from merauto.results.run_dir import RUN_INFO

FAST = ["--synthetic-size", "tiny", "--max-epochs", "3"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, Path, str]:
    """A one-trial search (run with --max-concurrent 1) and its export: (run dir, cache, the search's console output)."""
    root = tmp_path_factory.mktemp("finished")
    run_dir, cache = root / "run", cache_dir
    search = merauto("search", *FAST, "--budget", "1", "--seed-presets", "--max-concurrent", "1", "--run-dir", str(run_dir), cache=cache)
    merauto("export", str(run_dir), cache=cache)
    return run_dir, cache, search.stderr


def _export(run_dir: Path) -> Path:
    (export_dir,) = (run_dir / "export").iterdir()
    return export_dir


@pytest.mark.slow
def test_max_concurrent_is_what_the_console_says(finished: tuple[Path, Path, str]) -> None:
    assert "up to 1 trial(s) at a time (--max-concurrent)" in " ".join(finished[2].split())


@pytest.mark.slow
def test_a_moved_run_folder_reports_and_resumes(finished: tuple[Path, Path, str], tmp_path: Path) -> None:
    run_dir, cache, _ = finished
    moved = tmp_path / "archive" / "moved-run"
    shutil.copytree(run_dir, tmp_path / "original")
    shutil.move(tmp_path / "original", moved)  # the folder it was written in no longer exists
    recorded = json.loads((moved / RUN_INFO).read_text())["storage_url"]
    assert recorded == "sqlite:///study.db", "the study is recorded relative to the run folder"

    assert "leaderboard" in merauto("report", str(moved), cache=cache).stdout
    merauto("search", *FAST, "--budget", "2", "--seed-presets", "--run-dir", str(moved), cache=cache)
    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{moved}/study.db")
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2
    assert len(optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db").trials) == 1, (
        "the original is untouched"
    )


@pytest.mark.slow
def test_an_export_names_no_local_path_and_loads_no_pickled_object(finished: tuple[Path, Path, str], tmp_path: Path) -> None:
    run_dir, cache, _ = finished
    export_dir = _export(run_dir)
    written = " ".join(p.read_text() for p in export_dir.glob("*.json"))
    for local in (str(run_dir), str(cache), str(Path.home()), "/tmp/"):
        assert local not in written, f"{local} in the export"

    tampered = tmp_path / "tampered"  # an export in the format before model.safetensors, its model.pt holding code
    shutil.copytree(export_dir, tampered)
    marker = tmp_path / "code-ran"
    weights = load_weights(tampered / "model.safetensors")
    weights["payload"] = _RunsCode(str(marker))
    torch.save(weights, tampered / "model.pt")
    (tampered / "model.safetensors").unlink()
    with pytest.raises(MerautoError, match="never unpickles"):
        ExportedPipeline.load(tampered)
    assert not marker.exists(), "loading an export never runs code from it"


class _RunsCode:
    """An object whose unpickling runs code (it creates a file)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.path),))


@pytest.mark.slow
def test_predict_warns_on_frames_unlike_trainings_and_refuses_mixed_sizes(finished: tuple[Path, Path, str], tmp_path: Path) -> None:
    run_dir, cache, _ = finished
    export_dir = _export(run_dir)
    manifest = next((cache / "synthetic").glob("tiny-*/manifest.csv"))
    source = manifest.parent / manifest.read_text().splitlines()[1].split(",")[3]
    larger, mixed = tmp_path / "larger", tmp_path / "mixed"
    for k, frame in enumerate(ordered_frames(source)):
        image = cv2.imread(str(frame))
        for folder, scale in ((larger, 2), (mixed, 2 if k == 1 else 1)):
            folder.mkdir(exist_ok=True)
            cv2.imwrite(str(folder / frame.name), cv2.resize(image, None, fx=scale, fy=scale))

    warned = merauto("predict", str(export_dir), str(larger), cache=cache)
    err = " ".join(warned.stderr.split())
    assert "warning:" in err and str(larger) in err and "the pipeline was trained on clips of" in err
    assert warned.stdout.strip().splitlines()[1].startswith(str(larger))

    refused = merauto("predict", str(export_dir), str(mixed), cache=cache, check=False)
    assert refused.returncode == 2 and "differ in size" in " ".join(refused.stderr.split())


@pytest.mark.slow
def test_the_report_embeds_no_frame(finished: tuple[Path, Path, str]) -> None:
    html = (finished[0] / "report.html").read_text()
    # A frame would be kilobytes of base64 (plotly.js itself holds only SVG icons and a 1-pixel PNG), or an image trace.
    assert not re.search(r"data:image/(png|jpeg|bmp|gif);base64,[A-Za-z0-9+/=]{1000,}", html)
    assert '"type":"image"' not in html and "<img" not in html


@pytest.mark.slow
def test_the_dashboard_warns_before_it_listens_beyond_this_machine(finished: tuple[Path, Path, str]) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "merauto", "dashboard", str(finished[0]), "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},
    )
    try:
        time.sleep(5)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "warning: listening on 0.0.0.0" in err and "--host 127.0.0.1" in err


def test_pickles_are_what_the_tampered_export_test_relies_on(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_RunsCode(str(marker))))
    assert marker.exists(), "unpickling _RunsCode runs code, so the export test above is meaningful"
