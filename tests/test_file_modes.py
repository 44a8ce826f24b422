"""Run files are shared: what merauto writes gets the permissions the umask gives a new file,
never tempfile's owner-only 0600 (report.html, merauto.json, spotting results, the feature cache)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from merauto.atomic import shared_mode, umask, write_text_atomic
from merauto.data.cache import FeatureCache


@contextmanager
def umask_of(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_atomic_writes_and_cached_arrays_honour_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    with umask_of(mask):
        assert umask() == mask and shared_mode(0o777) == 0o777 & ~mask
        report = write_text_atomic(tmp_path / "report.html", "<html></html>", "the report")
        write_text_atomic(report, "<html>again</html>", "the report")  # replacing a file gives the new one the same mode
        cache = FeatureCache(tmp_path / "cache")
        cache.save("k", np.zeros(3))
    assert stat.S_IMODE(report.stat().st_mode) == mode
    assert report.read_text() == "<html>again</html>" and not list(tmp_path.glob(".tmp-*"))
    assert stat.S_IMODE(cache.path("k").stat().st_mode) == mode
