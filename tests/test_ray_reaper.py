"""A local Ray dies with its driver: after ``kill -9`` of the search driver, no process of its Ray
outlives it by more than a few seconds (Ray's own agents would for about a minute)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from merauto.orchestrator.ray_reaper import ray_processes

DRIVER = """
import sys, time
from pathlib import Path
import ray
from merauto.orchestrator.ray_session import open_ray
session = open_ray(None, Path(sys.argv[1]))
@ray.remote
def one():
    return 1
ray.get(one.remote())  # a worker runs too
print(session.temp_dir, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_every_process_of_a_local_ray_is_gone_seconds_after_its_driver_is_killed(tmp_path: Path) -> None:
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True)
    try:
        temp_dir = Path(driver.stdout.readline().strip())
        assert temp_dir.name.startswith("merauto-ray-")
        ray_side = psutil.Process(driver.pid).children(recursive=True) + ray_processes(temp_dir)
        names = {p.name() for p in ray_side}
        assert {"raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names  # these outlive a driver by ~60 s
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline, left = time.monotonic() + 10, ray_side
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = [p for p in ray_side if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, f"still running 10 s after the driver died: {[p.name() for p in left]}"
    finally:
        driver.kill()
