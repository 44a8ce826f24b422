"""A full disk while a search creates, writes or closes its study is said plainly: the file, "no space
left" (or, under a file size limit, a disk I/O error) and the fix, never Optuna's StorageInternalError
traceback; a run folder whose trials never started is not left behind half-written."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SEARCH = ["search", "--synthetic-size", "tiny", "--max-epochs", "2", "--budget", "1", "--seed-presets"]


def _search(run_dir: Path, cache: Path, preexec_fn: Callable[[], None] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "merauto", *SEARCH, "--run-dir", str(run_dir), "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},
        preexec_fn=preexec_fn,
        timeout=300,
    )
    err = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in err and "StorageInternalError" not in err, err
    return err


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real file system of ``size`` bytes at ``folder`` (a tmpfs: root only, where mounts are allowed)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"a tmpfs cannot be mounted here ({mounted.stderr.strip() or 'not root'}); the file size limit test stands in"
        print(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("size", ["64k", "200k"])  # full while creating the study's tables; while creating the study and its presets
def test_a_full_disk_at_study_creation_names_the_file_and_leaves_no_run_folder(tmp_path: Path, cache_dir: Path, size: str) -> None:
    with tmpfs(tmp_path / "disk", size) as disk:
        err = _search(disk / "run", cache_dir)
        assert not (disk / "run").exists(), "nothing half-written is left"
    assert f"cannot write the study {disk / 'run' / 'study.db'}: no space left on its disk" in err, err
    assert f"fix: free space on that disk (df -h {disk / 'run'})" in err and "run the same command again" in err, err


@pytest.mark.slow
def test_a_full_disk_once_trials_run_names_what_filled_it_not_the_study_closing(tmp_path: Path, cache_dir: Path) -> None:
    """Room for the study, not for Ray Tune's files: the disk fills once Ray runs, and closing the study fails too."""
    with tmpfs(tmp_path / "disk", "256k") as disk:
        err = _search(disk / "run", cache_dir)
    assert "no space left" in err and str(disk) in err and "fix: free space on that disk" in err, err


def _file_size_limit() -> None:
    """In the child: a write past 100 kB fails (EFBIG, the signal ignored), as a full disk would, without root."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_file_size_limit_at_study_creation_is_a_disk_io_error_with_the_file(tmp_path: Path, cache_dir: Path) -> None:
    err = _search(tmp_path / "run", cache_dir, preexec_fn=_file_size_limit)
    assert f"cannot write the study {tmp_path / 'run' / 'study.db'}: disk I/O error (its disk is full, a file size limit" in err, err
    assert "fix: free space on that disk" in err and not (tmp_path / "run").exists()
