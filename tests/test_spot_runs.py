"""A spotting run is driven like a search: flow computed once and cached by content, each spotter's
defaults first, progress within and across trials, a run-directory lock, a study lease, trials a
killed run left re-run, and report.html (also through ``merauto report RUN``)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.long_videos.folders import LongVideo, load_long_videos
from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos
from merauto.errors import MerautoError
from merauto.evaluator.spotters import SPOTTERS
from merauto.evaluator.spotters.flow_bank import FARNEBACK, TOPS, FlowBank
from merauto.orchestrator.driver import DriverId
from merauto.orchestrator.spot_search import default_trial, run_spot_search
from merauto.results.run_lock import run_dir_lock
from merauto.results.spotting.store import RESULTS
from merauto.results.storage import LEASE_ATTR, open_storage

TINY_LV = LongVideoSpec(size="tiny")


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> list[LongVideo]:
    annotations = ensure_long_videos(TINY_LV, tmp_path_factory.mktemp("lv"))
    return load_long_videos(annotations, TINY_LV.fps)


def _direct_motion(frames: np.ndarray, gap: int, top: float) -> np.ndarray:
    """The baseline's motion as first written: Farneback per pair, median removed, mean of the largest ``top`` magnitudes."""
    out = np.zeros(len(frames), np.float32)
    for t in range(len(frames) - gap):
        flow = cv2.calcOpticalFlowFarneback(frames[t], frames[t + gap], None, *FARNEBACK)
        flow -= np.median(flow.reshape(-1, 2), axis=0)
        magnitude = np.hypot(flow[..., 0], flow[..., 1]).ravel()
        k = max(1, int(top * magnitude.size))
        out[t] = np.partition(magnitude, -k)[-k:].mean()
    return out


def test_the_flow_bank_computes_each_pass_once_and_reads_it_back_by_content(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (24, 32, 32), dtype=np.uint8)
    cache = FeatureCache(tmp_path)
    bank, seen = FlowBank(cache, workers=2), []
    assert bank.prepare([frames], [3, 5], lambda done, total: seen.append((done, total))) == 2
    assert seen[-1] == (21 + 19, 21 + 19)  # frame pairs, over both passes
    for top in (TOPS[0], 0.05):
        np.testing.assert_array_equal(bank.motion(frames, 3, top), _direct_motion(frames, 3, top))
    assert bank.fields(frames, 5, 16).shape == (24, 2, 16, 16) and not bank.fields(frames, 5, 16)[19:].any()

    again = FlowBank(cache)  # another process over the same videos: nothing to compute
    assert again.missing([frames], [3, 5]) == [] and again.prepare([frames], [3, 5]) == 0
    np.testing.assert_array_equal(again.fields(frames, 5, 16), bank.fields(frames, 5, 16))
    changed = frames.copy()
    changed[0, 0, 0] ^= 1  # one pixel: another video (a leak canary's corruption is one too)
    assert len(again.missing([changed], [3, 5])) == 2


def test_a_spot_run_starts_from_the_defaults_and_reports_progress_within_and_across_trials(
    tiny_videos: list[LongVideo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from merauto.cli import main

    run, cache = tmp_path / "run", tmp_path / "cache"
    console = Console(file=open(tmp_path / "log.txt", "w"), width=200)  # noqa: SIM115 - a batch job's log
    trials = run_spot_search(tiny_videos, run, "s", 2, 0, None, console, ["optical-flow"], cache_dir=cache)
    console.file.close()
    log = (tmp_path / "log.txt").read_text()
    assert "optical flow before the first trial" in log and "100%" in log
    assert re.search(r"trial 0 \(optical-flow\): fold 1/3 done after 0:\d\d:\d\d; trial eta 0:\d\d:\d\d", log)
    assert re.search(r"trial 1 \(optical-flow\) complete, inner F1 0\.\d{3} \| 2/2 done; best inner F1 0\.\d{3}; eta 0:00:00", log)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run / 'study.db'}")
    assert study.trials[0].params == default_trial("optical-flow")  # the MEGC baseline's defaults run first
    assert trials[0].params == {"spotter": "optical-flow", **SPOTTERS.get("optical-flow").defaults}

    assert main(["report", str(run), "--resamples", "100"]) == 0  # a spotting run, read back without rerunning it
    out = capsys.readouterr().out
    assert "per-fold selection" in out and "subject by subject" in out
    page = (run / "report.html").read_text()
    assert "Nested leave-one-subject-out estimate of spotting" in page and "plotly" in page and "Every trial" in page
    assert (run / "report.html").stat().st_size > 1_000_000 // 2  # plotly.js inlined: it opens offline


def test_a_second_spot_on_the_same_folder_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.cli import main

    run = tmp_path / "run"
    with run_dir_lock(run, RESULTS):  # a first run holds the folder
        started = time.monotonic()
        code = main(["spot", "--lv-size", "tiny", "--run-dir", str(run), "--cache-dir", str(tmp_path / "cache"), "--budget", "1"])
        assert code == 2 and time.monotonic() - started < 30
    assert f"another merauto run is using {run}" in " ".join(capsys.readouterr().err.split())
    assert not (run / RESULTS).exists() and not (tmp_path / "cache").exists()  # refused before any video was generated


def test_a_study_another_live_driver_holds_is_refused(tiny_videos: list[LongVideo], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url), direction="maximize")
    other = DriverId(str(tmp_path / "elsewhere"), "host", 1)
    study.set_user_attr(LEASE_ATTR, {"driver": other.to_attr(), "beat": time.time()})
    with pytest.raises(MerautoError, match="is being searched right now by another merauto driver"):
        run_spot_search(tiny_videos, tmp_path / "run", "s", 1, 0, url, Console(quiet=True), ["optical-flow"])


def test_a_trial_a_killed_spot_run_left_running_is_run_again(tiny_videos: list[LongVideo], tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_spot_search(tiny_videos, run, "s", 1, 0, None, Console(quiet=True), ["optical-flow"])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run / 'study.db'}")
    killed = study.ask({"spotter": optuna.distributions.CategoricalDistribution(["optical-flow"])})  # left running, as by kill -9
    trials = run_spot_search(tiny_videos, run, "s", 2, 0, None, Console(quiet=True), ["optical-flow"])
    states = {t.number: t.state.name for t in optuna.load_study(study_name="s", storage=f"sqlite:///{run / 'study.db'}").trials}
    assert states[killed.number] == "FAIL" and len(trials) == 2 and killed.number not in {t.number for t in trials}
