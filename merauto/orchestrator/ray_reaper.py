"""The local Ray's reaper: a small process started beside a local Ray that stops every process of
that Ray as soon as the search driver that started it dies, however it died (``kill -9`` too).

Ray takes its GCS and raylet down with a killed driver, but its dashboard and runtime-env agents
live on for about a minute, and workers of a busy node longer (:mod:`merauto.orchestrator.ray_session`).
The reaper polls the driver (its pid and start time, so a reused pid is not taken for it), noting
its descendants as they come, and once it is gone kills those still running and every process
whose command line names the session's private temporary folder.
A driver that closes its Ray cleanly removes that folder; the reaper then leaves quietly.

    python -m merauto.orchestrator.ray_reaper DRIVER_PID DRIVER_START_TIME TEMP_DIR
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

POLL_S = 0.5


def start_reaper(temp_dir: Path) -> subprocess.Popen:
    """Start the reaper of the local Ray whose temporary folder is ``temp_dir``, watching this process."""
    me = psutil.Process()
    return subprocess.Popen(
        [sys.executable, "-m", __name__, str(me.pid), repr(me.create_time()), str(temp_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal reaches the driver, not its reaper
    )


def alive(pid: int, started: float) -> bool:
    """Whether process ``pid`` that started at ``started`` still runs (a zombie is dead)."""
    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ray_processes(temp_dir: Path) -> list[psutil.Process]:
    """The processes, other than this one, whose command line names ``temp_dir`` (Ray's servers; its
    agents and workers rename themselves, ``ray::DashboardAgent``, ``ray::IDLE``, and are found as descendants)."""
    needle, found = str(temp_dir), []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.info["pid"] != os.getpid() and any(needle in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def descendants(pid: int) -> dict[int, float]:
    """The processes below ``pid`` (pid -> start time), this one excepted."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    seen = {}
    for child in children:
        try:
            if child.pid != os.getpid():
                seen[child.pid] = child.create_time()
        except psutil.NoSuchProcess:
            continue
    return seen


def reap(pid: int, started: float, temp_dir: Path) -> int:
    """Wait for the driver to die or the folder to go; then kill what is left of its Ray: the driver's
    descendants last seen and the processes naming ``temp_dir``. Returns the processes killed."""
    below: dict[int, float] = {}
    while alive(pid, started) and temp_dir.exists():
        below.update(descendants(pid))
        time.sleep(POLL_S)
    if not temp_dir.exists():
        return 0  # closed cleanly: Ray was stopped by its driver
    targets = {p.pid: p for p in ray_processes(temp_dir)}
    for child, child_started in below.items():
        if child not in targets and alive(child, child_started):
            targets[child] = psutil.Process(child)
    killed = 0
    for process in targets.values():
        try:
            process.kill()
            killed += 1
        except psutil.NoSuchProcess:
            continue
    return killed


if __name__ == "__main__":
    reap(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))
