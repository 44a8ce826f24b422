"""Ray as a search meets it: a real two-node cluster joined with --ray-address (trials on both nodes,
a worker node killed mid-trial, the cluster left running), and a local Ray that keeps to itself
(loopback only, its temporary files removed, nothing in the home folder)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import psutil
import pytest
from filelock import FileLock
from ray_cluster import RayCluster, alive

from merauto.orchestrator.ray_session import SOCKET_PATH_MAX, SOCKET_TAIL, TEMP_PREFIX, lock_path, temp_root
from merauto.results.store import ResultsStore

TINY = ["--synthetic-size", "tiny", "--max-epochs", "3"]
STUDY = "synthetic-tiny"
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _search(run_dir: Path, cache: Path, env: dict[str, str], *args: str, start_new_session: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "merauto", "search", *TINY, "--run-dir", str(run_dir), "--cpus-per-trial", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "MERAUTO_CACHE": str(cache), "COLUMNS": "200"},
        start_new_session=start_new_session,
    )


def _finish(search: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for ``search``; its stderr, once it has exited 0."""
    out, err = search.communicate(timeout=timeout)
    assert search.returncode == 0, f"merauto search exited {search.returncode}:\n{out}\n{err}"
    return err


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{run_dir}/study.db").trials


@pytest.mark.slow
def test_a_search_spreads_its_trials_over_a_two_node_cluster_and_leaves_it_running(cache_dir: Path, tmp_path: Path) -> None:
    with RayCluster(workers=1) as cluster:
        err = _finish(_search(tmp_path / "run", cache_dir, cluster.env, "--budget", "4", "--ray-address", cluster.address))
        assert "Ray: 2 CPUs" in err and "4/4 trials finished (0 failed)" in err
        trials = _trials(tmp_path / "run")
        assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
        assert {t.user_attrs["ray_node"] for t in trials} == {node.node_id() for node in cluster.nodes}, "trials ran on both nodes"
        assert all(node.process.poll() is None and node.processes() for node in cluster.nodes), "the user's cluster is left running"
        assert cluster.active_nodes() == 2
    assert cluster.leftovers() == []


@pytest.mark.slow
def test_a_worker_node_killed_mid_trial_fails_that_trial_and_the_search_reaches_its_budget(cache_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with RayCluster(workers=1) as cluster:
        head, worker = cluster.nodes
        # 20 epochs: each trial trains long enough to be seen running on the worker node, on a loaded machine too
        search = _search(run_dir, cache_dir, cluster.env, "--budget", "3", "--max-epochs", "20", "--ray-address", cluster.address)
        deadline = time.monotonic() + 180
        while not worker.running_trial():
            if search.poll() is not None or time.monotonic() > deadline:
                search.kill()
                raise AssertionError("no trial ever ran on the worker node:\n" + "\n".join(search.communicate()))
            time.sleep(0.1)
        worker.kill()
        assert worker.processes() == []
        err = _finish(search)
        assert "3/3 trials finished (1 failed)" in err
        trials = _trials(run_dir)
        states = sorted(t.state.name for t in trials)
        assert states == ["COMPLETE", "COMPLETE", "FAIL"], "the killed trial failed, no trial ran twice"
        (failed,) = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
        assert "died" in failed.user_attrs["error"]
        assert {t.user_attrs["ray_node"] for t in trials if t.state == optuna.trial.TrialState.COMPLETE} == {head.node_id()}
        stored = ResultsStore(run_dir).trials(STUDY)
        assert sorted(r.number for r in stored) == sorted(t.number for t in trials), "one stored row per trial"
        assert head.process.poll() is None and head.processes(), "the head node is left running"
    assert cluster.leftovers() == []


@pytest.mark.slow
def test_a_local_search_listens_on_loopback_only_and_leaves_no_files_even_after_ctrl_c(cache_dir: Path, tmp_path: Path) -> None:
    home, temp = tmp_path / "home", Path(tempfile.mkdtemp(prefix="mt", dir="/tmp"))  # short: Ray's socket paths
    home.mkdir()
    stale, live = temp / f"{TEMP_PREFIX}stale", temp / f"{TEMP_PREFIX}live"  # left by a killed search / in use by another
    for folder in (stale, live):
        folder.mkdir()
        lock_path(folder).touch()
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_")} | {"HOME": str(home), "TMPDIR": str(temp)}
    run_dir = tmp_path / "run"
    try:
        with FileLock(str(lock_path(live))):
            search = _search(run_dir, cache_dir, env, "--budget", "3", start_new_session=True)
            watched = _watch_until_a_trial_completes(search, run_dir, temp, stand_ins=(stale, live))
            os.killpg(search.pid, signal.SIGINT)  # Ctrl-C reaches every process of the terminal's foreground group
            out, err = search.communicate(timeout=120)
        assert search.returncode == 130, f"{out}\n{err}"
        assert {"gcs_server", "raylet", "ray::ImplicitFunc"} <= {name for name, _ in watched.sockets}, watched.sockets
        assert {ip for _, ip in watched.sockets} <= LOOPBACK, watched.sockets
        assert watched.modes == {0o700}, "Ray's folder is private to this user"
        assert _ended(watched.processes), "every Ray process ended with the search"
        assert list(home.rglob("*")) == [], "nothing is written to the home folder"
        assert set(temp.iterdir()) == {live, lock_path(live)}, "the search's Ray folder and a killed search's are gone"
        assert not list(Path("/tmp/ray").glob(f"session_*_{search.pid}")), "nothing in Ray's default folder"
        assert list((run_dir / "ray" / "logs").glob("session_*/raylet.out")), "Ray's logs are kept in the run directory"
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@dataclass
class Watched:
    """What a local search was seen doing."""

    processes: dict[int, psutil.Process] = field(default_factory=dict)  # that it started
    sockets: set[tuple[str, str]] = field(default_factory=set)  # (process name, address) listened on, or bound without a peer
    modes: set[int] = field(default_factory=set)  # permissions of its Ray folder


def _watch_until_a_trial_completes(search: subprocess.Popen, run_dir: Path, temp: Path, stand_ins: tuple[Path, ...]) -> Watched:
    watched, root = Watched(), psutil.Process(search.pid)
    deadline = time.monotonic() + 240
    while not _complete_trials(run_dir):
        assert search.poll() is None and time.monotonic() < deadline, "the search ended before a trial completed"
        for process in root.children(recursive=True):
            watched.processes.setdefault(process.pid, process)
            try:
                name = process.name().partition(".")[0]  # ray::ImplicitFunc.train -> ray::ImplicitFunc
                for c in process.net_connections(kind="inet"):
                    if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr):
                        watched.sockets.add((name, c.laddr.ip))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        watched.modes |= {f.stat().st_mode & 0o777 for f in temp.glob(f"{TEMP_PREFIX}*") if f.is_dir() and f not in stand_ins}
        time.sleep(0.2)
    return watched


def _complete_trials(run_dir: Path) -> int:
    try:
        with sqlite3.connect(run_dir / "study.db") as db:
            return db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _ended(processes: dict[int, psutil.Process], timeout: float = 10) -> bool:
    """Whether every one of ``processes`` has ended (or does within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in processes.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(alive(p) for p in processes.values())


def test_local_ray_folders_fall_back_to_tmp_when_the_temp_folder_is_too_deep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", "/tmp/short")
    assert temp_root() == "/tmp/short"
    deep = "/tmp/" + "d" * (SOCKET_PATH_MAX - SOCKET_TAIL)
    monkeypatch.setattr(tempfile, "tempdir", deep)
    assert temp_root() == "/tmp", "Ray's socket paths under it would not fit in a Unix socket address"
