"""Runs that survive: kill -9 of the driver anywhere, a results store or study that cannot be
written, a full disk. After each, the same command resumes to exactly the budget: every trial
counted once, every counted trial's results stored, nothing stored for a trial that does not count.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from commands import TINY, merauto, merauto_process
from optuna.trial import TrialState

from merauto.faults import FAULT_ENV
from merauto.results.integrity import Integrity, check_integrity
from merauto.results.run_dir import load_run
from merauto.results.store import ResultsStore


def _integrity(run_dir: Path) -> Integrity:
    info = load_run(run_dir)
    study = optuna.load_study(study_name=info.study_name, storage=info.storage_url)
    return check_integrity(study, ResultsStore(run_dir).trials(info.study_name))


def _running(run_dir: Path) -> int:
    try:
        study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    except (KeyError, Exception):  # noqa: BLE001 - not created yet, or being written
        return 0
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` refuses writes, even root's: immutable (chattr +i) as root, without write permission otherwise."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"chattr +i {path} failed ({done.stderr.strip()}); the tests need a file system with attributes"
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & 0o555)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.mark.slow
def test_kill_9_during_a_trial_and_at_every_crash_point_then_the_same_command_reaches_the_budget(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *TINY, "--budget", "3", "--seed-presets", "--run-dir", str(run_dir)]

    # During a trial: kill -9 the driver a second after a trial starts.
    env = {**os.environ, "MERAUTO_CACHE": str(cache)}
    driver = subprocess.Popen([sys.executable, "-m", "merauto", *search], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None and _running(run_dir) == 0:
        time.sleep(0.2)
    time.sleep(1)
    driver.kill()
    driver.wait(timeout=60)
    assert _running(run_dir) >= 1, "the driver was killed while a trial ran"

    # While sampling, while the results store writes, between storing and telling Optuna.
    for point in ("sampled", "store-write", "stored"):
        killed = merauto_process(*search, cache=cache, check=False, env={FAULT_ENV: point})
        assert killed.returncode == -signal.SIGKILL, f"{point}: {killed.stderr}"

    resumed = merauto(*search, cache=cache)
    assert "were interrupted; recorded as failed and queued to run again" in resumed.stderr
    integrity = _integrity(run_dir)
    assert integrity.ok and integrity.counted == 3 and not integrity.running, integrity.describe()
    assert "disagree" not in merauto("report", str(run_dir), cache=cache).stdout


@pytest.mark.slow
def test_an_unwritable_results_store_stops_the_search_with_its_name_and_the_next_run_resumes(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *TINY, "--budget", "2", "--seed-presets", "--run-dir", str(run_dir)]
    merauto(*[a if a != "2" else "1" for a in search], cache=cache)  # one trial first: the run exists, results.db too
    store, study = run_dir / "results.db", run_dir / "study.db"

    for victim in (store, study):  # an existing run whose files cannot be written is refused before any work
        with unwritable(victim):
            started = time.perf_counter()
            refused = merauto(*search, cache=cache, check=False)
        assert refused.returncode == 2 and str(victim) in " ".join(refused.stderr.split()) and "fix:" in refused.stderr
        assert time.perf_counter() - started < 20

    # Unwritable once the search has started: it stops at the first write, saying which file and what to do.
    env = {**os.environ, "MERAUTO_CACHE": str(cache), "COLUMNS": "200"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "merauto", *search], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None and _running(run_dir) == 0:
        time.sleep(0.2)
    with unwritable(store):
        _, err = driver.communicate(timeout=300)
    err = " ".join(err.split())
    assert driver.returncode == 2 and f"cannot write the results store {store}" in err and "run the same command again" in err, err
    assert "Traceback" not in err, err

    merauto(*search, cache=cache)
    integrity = _integrity(run_dir)
    assert integrity.ok and integrity.counted == 2 and not integrity.running, integrity.describe()


def _file_size_limit(limit: int) -> None:
    """In the child: writes past ``limit`` bytes fail as on a full disk (EFBIG instead of a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_a_report_that_cannot_be_written_whole_leaves_nothing_behind(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    merauto("search", *TINY, "--budget", "1", "--seed-presets", "--run-dir", str(run_dir), cache=cache)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix == ".html"}
    result = subprocess.run(
        [sys.executable, "-m", "merauto", "report", str(run_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "MERAUTO_CACHE": str(cache), "COLUMNS": "200"},
        preexec_fn=lambda: _file_size_limit(256 * 1024),  # the report (plotly inline) is megabytes
        timeout=300,
    )
    err = " ".join(result.stderr.split())
    assert result.returncode == 2 and f"cannot write the report {run_dir / 'report.html'}" in err and "free disk space" in err, err
    assert not list(run_dir.glob(".tmp-*")), "no half-written file is left behind"
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix == ".html"} == before, "the previous report is intact"
