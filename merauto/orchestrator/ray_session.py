"""Starting or joining Ray for one search.

A cluster named with ``--ray-address`` is joined, and only disconnected from at the end.
Without it, merauto starts a local Ray that keeps to itself:

- every Ray server (GCS, raylet, object manager, workers) listens on 127.0.0.1 only. Ray 2.60
  binds its gRPC servers to all interfaces unless the node address is exactly 127.0.0.1, and
  turns 127.0.0.1 into the host's outward address whenever multi-node clusters are enabled (always
  on Linux: ``ray_constants.ENABLE_RAY_CLUSTER``, read from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``
  when ray is imported), so that switch is off while Ray starts;
- its temporary folder (``_temp_dir`` and ``RAY_TMPDIR``: session, sockets, logs, Ray Tune's lock
  files) lies in a short per-run folder under the system temp folder (Unix socket paths must fit in
  107 bytes), private to this user (Ray opens its own folder to every user), and removed at the end,
  even on an error or Ctrl-C, after Ray's logs are copied into the run directory. A lock file
  beside it marks it in use; the folders of searches that were killed (their lock is free) are
  removed by the next local search;
- token authentication stays on, with a token kept in this process's environment
  (``RAY_AUTH_TOKEN``, inherited by Ray's processes) instead of ``~/.ray/auth_token``.

A driver killed with ``kill -9`` takes its GCS and raylet with it at once (Ray's kernel
fate-sharing) and its idle workers within about 3 s, but Ray's dashboard and runtime-env agents
live on for about 60 s more (measured twice with Ray 2.60): they see the raylet gone within 2 s,
then report its death to the GCS, which is gone too, under a timeout Ray fixes at 60 s
(``ray._private.utils.publish_error_to_driver``; ``RAY_gcs_rpc_server_reconnect_timeout_s`` does
not shorten it). So a local Ray gets a reaper (:mod:`merauto.orchestrator.ray_reaper`) that kills
what is left of it within a second of its driver's death; its folder is removed by the next search.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray
from filelock import FileLock, Timeout
from ray._private import ray_constants

from merauto.errors import MerautoError
from merauto.orchestrator.ray_reaper import start_reaper

TEMP_PREFIX = "merauto-ray-"
SOCKET_PATH_MAX = 107  # bytes in a Unix socket path (sun_path less its terminating NUL)
RAY_DIR = "ray"  # Ray's temporary folder, inside the per-run one
SOCKET_TAIL = len("/merauto-ray-abcdefgh/ray/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store")
REMOVE_TIMEOUT_S = 10.0  # Ray's workers may still write their last log lines after the raylet is gone
TOKEN = secrets.token_hex(32)  # one per process: Ray caches the first token it reads for the process's lifetime
AUTH_SOURCES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

log = logging.getLogger(__name__)


class RaySession:
    """Ray as one search uses it. :meth:`close` disconnects from a joined cluster; a local Ray
    (``temp_dir`` set) is stopped, its logs copied into ``log_dir`` and its folder removed."""

    def __init__(self, connected: bool, log_dir: Path | None = None, temp_dir: Path | None = None) -> None:
        self.connected, self.log_dir, self.temp_dir = connected, log_dir, temp_dir
        self.lock: FileLock | None = None
        self.env: dict[str, str | None] = {}

    def close(self) -> None:
        """Disconnect, or stop and remove a local Ray; a Ray this session did not start or join is left alone."""
        if self.connected:
            ray.shutdown(wait_for_processes=self.temp_dir is not None)
            self.connected = False
        if self.temp_dir is None:
            return
        _set_env(self.env)
        if self.log_dir is not None:
            try:
                copy_logs(self.temp_dir / RAY_DIR, self.log_dir)
            except OSError as exc:
                log.warning("could not copy Ray's logs into %s: %s", self.log_dir, exc)
        if not remove(self.temp_dir):
            log.warning("could not remove Ray's temporary folder %s; the next local search will", self.temp_dir)
        if self.lock is not None:
            self.lock.release()
        self.temp_dir = None


def open_ray(address: str | None, log_dir: Path) -> RaySession:
    """Join the cluster at ``address``, or start a local Ray that keeps to itself (its logs end up in
    ``log_dir``); a Ray already initialised in this process is used as it is."""
    if ray.is_initialized():
        return RaySession(connected=False)
    try:
        if address is not None:
            _init(address=address)
            return RaySession(connected=True)
        return _start_local(log_dir)
    except Exception as exc:
        raise MerautoError(
            f"cannot start or join Ray ({'--ray-address ' + address if address else 'local'}): {exc}",
            "check that the Ray cluster is up (ray status) and the address is right, or omit --ray-address to run locally",
        ) from None


def _init(**kwargs: object) -> None:
    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, **kwargs)


def _start_local(log_dir: Path) -> RaySession:
    root = temp_root()
    remove_stale(root)
    session = RaySession(connected=False, log_dir=log_dir, temp_dir=Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=root)))
    try:
        session.lock = FileLock(str(lock_path(session.temp_dir)))
        session.lock.acquire(timeout=0)
        ray_dir = session.temp_dir / RAY_DIR
        env: dict[str, str | None] = {"RAY_TMPDIR": str(ray_dir)}
        if not any(os.environ.get(name) for name in AUTH_SOURCES):
            env["RAY_AUTH_TOKEN"] = TOKEN
        session.env = _set_env(env)
        session.connected = True
        with _loopback_only():
            _init(address="local", _node_ip_address="127.0.0.1", _temp_dir=str(ray_dir))
        start_reaper(session.temp_dir)
    except BaseException:
        session.close()
        raise
    return session


@contextmanager
def _loopback_only() -> Iterator[None]:
    """Keep Ray from turning 127.0.0.1 into the host's outward address while it starts a local node."""
    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):  # a Ray release without the switch: started as it is
        yield
        return
    enabled = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = enabled


def _set_env(values: dict[str, str | None]) -> dict[str, str | None]:
    """Set (or, for ``None``, remove) environment variables; returns their previous values."""
    previous = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return previous


def temp_root() -> str:
    """Where local Ray folders go: the system temp folder, or /tmp where that is too deep for Ray's sockets."""
    root = tempfile.gettempdir()
    return root if len(os.fsencode(root)) + SOCKET_TAIL <= SOCKET_PATH_MAX else "/tmp"


def lock_path(folder: Path) -> Path:
    """The lock file that marks a local Ray folder in use."""
    return folder.with_name(folder.name + ".lock")


def remove(folder: Path) -> bool:
    """Remove ``folder`` (retrying while Ray's last workers write into it), then its lock file; whether it is gone."""
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    shutil.rmtree(folder, ignore_errors=True)
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        return False
    lock_path(folder).unlink(missing_ok=True)
    return True


def remove_stale(root: str) -> list[Path]:
    """Remove the local Ray folders under ``root`` whose search is gone (its lock is free); returns them."""
    removed = []
    for path in Path(root).glob(f"{TEMP_PREFIX}*.lock"):
        folder = path.with_name(path.name.removesuffix(".lock"))
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):  # a live search holds it, or it is not ours to touch
            continue
        try:
            if remove(folder):
                removed.append(folder)
        finally:
            lock.release()
    return removed


def copy_logs(ray_dir: Path, log_dir: Path) -> Path | None:
    """Copy the non-empty log files of the latest Ray session under ``ray_dir`` to ``log_dir/<session>``."""
    session = (ray_dir / "session_latest").resolve()
    logs = [f for f in (session / "logs").glob("*") if f.is_file() and f.stat().st_size > 0]
    if not logs:
        return None
    target = log_dir / session.name
    target.mkdir(parents=True, exist_ok=True)
    for path in logs:
        shutil.copy2(path, target / path.name)
    return target
