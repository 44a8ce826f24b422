"""Content-addressed, atomically written on-disk cache for derived inputs."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from merauto.atomic import shared_mode
from merauto.data.preprocessing.landmarks import landmarks_path
from merauto.data.sample_index import Sample

CACHE_ENV = "MERAUTO_CACHE"


def default_cache_dir() -> Path:
    """``$MERAUTO_CACHE``, else ``$XDG_CACHE_HOME/merauto``, else ``~/.cache/merauto``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "merauto"


def content_key(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable ``parts``."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def fingerprint_sample(sample: Sample) -> str:
    """Digest of a clip's content: every frame's bytes, its onset/apex/offset annotation, its fps
    (magnification reads it) and its landmarks file when it has one."""
    digest = hashlib.sha256()
    digest.update(f"{sample.onset}:{sample.apex}:{sample.offset}:{len(sample.frames)}:{sample.fps}".encode())
    for frame in sample.frames:
        digest.update(frame.read_bytes())
    landmarks = landmarks_path(sample)
    if landmarks.is_file():
        digest.update(landmarks.read_bytes())
    return digest.hexdigest()


class FeatureCache:
    """Arrays stored under content keys; writes go to a temporary file renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / "features" / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        """The array stored under ``key``, or ``None`` when absent."""
        path = self.path(key)
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None

    def save(self, key: str, array: np.ndarray) -> None:
        """Store ``array`` under ``key``; readers see either nothing or the whole file."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", suffix=".npy", delete=False)
        try:
            with handle:
                os.fchmod(handle.fileno(), shared_mode())  # a cache shared by a group is readable by it, as the umask says
                np.save(handle, np.asarray(array), allow_pickle=False)
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
