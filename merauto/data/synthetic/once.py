"""Generated data written once: into a private folder renamed into place when complete, under a file lock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def generate_once(target: Path, marker: str, write: Callable[[Path], object]) -> Path:
    """``target / marker``, calling ``write(scratch)`` first when it is missing; concurrent callers
    wait on a lock and never see a half-written folder."""
    done = target / marker
    if done.exists():
        return done
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if done.exists():
            return done
        scratch = target.parent / f".partial-{target.name}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            write(scratch)
            os.replace(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return done
