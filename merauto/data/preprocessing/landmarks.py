"""Facial landmarks: named points per frame from a clip's ``landmarks.json``, and the landmark graph input.

A clip folder may hold ``landmarks.json``: ``{"names": [...], "frames": {"<frame file>": [[x, y], ...]}}``
with pixel coordinates of named points (merauto's names follow :data:`merauto.data.preprocessing.face.DLIB_NAMES`,
so the dlib backend and annotated datasets agree). Landmark inputs and landmark-centred regions
are offered only when every clip has them.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from merauto.data.sample_index import Sample, SampleIndex
from merauto.errors import MerautoError

LANDMARKS_FILE = "landmarks.json"


def landmarks_path(sample: Sample) -> Path:
    """Where a clip's landmarks live: beside its first frame."""
    return sample.frames[0].parent / LANDMARKS_FILE


def index_has_landmarks(index: SampleIndex) -> bool:
    """Whether every clip of ``index`` has a landmarks file."""
    return len(index) > 0 and all(landmarks_path(s).is_file() for s in index)


@lru_cache(maxsize=4096)
def _read(path: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    data = json.loads(path.read_text())
    return tuple(data["names"]), {frame: np.asarray(points, np.float64) for frame, points in data["frames"].items()}


def read_landmarks(sample: Sample, position: int) -> dict[str, np.ndarray]:
    """Named points (pixels) of frame ``position`` of ``sample``."""
    path = landmarks_path(sample)
    if not path.is_file():
        raise MerautoError(
            f"sample {sample.id} has no {LANDMARKS_FILE} beside its frames, but the pipeline reads landmarks",
            "choose an input and region that need no landmarks, or add landmark annotations to every clip",
        )
    names, frames = _read(path)
    frame = sample.frames[position].name
    if frame not in frames:
        raise MerautoError(f"{path} has no points for frame {frame}", "annotate every frame the inputs read (onset, apex, offset)")
    return dict(zip(names, frames[frame], strict=True))


def graph_points(dim: int) -> int:
    """The number of points P of a :func:`graph_features` vector of ``dim`` values."""
    points = int(round((math.sqrt(9 + 8 * dim) - 3) / 2))
    if 2 * points + points * (points - 1) // 2 != dim:
        raise ValueError(f"{dim} values are not a landmark graph (2 P + P (P - 1) / 2 for P points)")
    return points


def graph_features(onset: dict[str, np.ndarray], apex: dict[str, np.ndarray]) -> np.ndarray:
    """The landmark graph of a clip as a vector: node displacements and edge length changes.

    Nodes are the named points (sorted by name), edges every pair of them (in
    ``np.triu_indices`` order), displacements (dx, dy) node after node; lengths are in
    units of the onset's inter-ocular distance, so the vector is free of face size. Output:
    (2 P + P (P - 1) / 2,) floats for P points.
    """
    names = sorted(onset)
    before = np.stack([onset[n] for n in names])
    after = np.stack([apex[n] for n in names])
    unit = max(float(np.hypot(*(onset["eye_r"] - onset["eye_l"]))), 1e-6)
    i, j = np.triu_indices(len(names), k=1)
    lengths = lambda p: np.hypot(*(p[i] - p[j]).T)  # noqa: E731 - edge lengths of a point set
    displacement = (after - before).ravel() / unit
    stretch = (lengths(after) - lengths(before)) / unit
    return np.concatenate([displacement, stretch]).astype(np.float32)
