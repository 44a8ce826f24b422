"""The run directory's file lock: one run writes a folder at a time, and a run that fails before it
wrote its results leaves no folder behind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from merauto.errors import MerautoError

LOCK_FILE = ".lock"


@contextmanager
def run_dir_lock(run_dir: Path, results_file: str) -> Iterator[None]:
    """Hold ``run_dir``'s lock (creating the folder): a second run on the same folder is refused at once. If this run
    created the folder and stops (an error, Ctrl-C) before ``results_file`` exists in it, the folder is removed."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise MerautoError(f"another merauto run is using {run_dir}", "wait for it to finish, or pass another --run-dir") from None
    try:
        yield
    except BaseException:
        if created and not (run_dir / results_file).exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-written is left behind
        raise
    finally:
        lock.release()
