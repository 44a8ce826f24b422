"""Statistics a model fits from its own training rows: input standardisation, class weights and row sampling weights.

Nothing here ever sees rows other than the ones passed in: that is what keeps test subjects
out of every fitted number (docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Standardiser:
    """Per-stream, per-channel (axis 1) mean and standard deviation fitted on training rows."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, inputs: Inputs, rows: np.ndarray) -> Standardiser:
        mean, std = {}, {}
        for name, array in inputs.items():
            part = array[rows].astype(np.float64)
            axes = (0, *range(2, part.ndim))
            mean[name] = part.mean(axis=axes).astype(np.float32)
            std[name] = np.maximum(part.std(axis=axes), 1e-6).astype(np.float32)
        return cls(mean, std)

    def apply(self, inputs: Inputs) -> Inputs:
        """``inputs`` (N, C, ...) by stream, each channel less its mean and over its deviation, as float32."""
        out = {}
        for name, array in inputs.items():
            shape = (1, -1) + (1,) * (array.ndim - 2)
            out[name] = ((array - self.mean[name].reshape(shape)) / self.std[name].reshape(shape)).astype(np.float32)
        return out

    def to_json(self) -> dict[str, Any]:
        return {k: {"mean": self.mean[k].tolist(), "std": self.std[k].tolist()} for k in self.mean}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Standardiser:
        return cls(
            {k: np.asarray(v["mean"], np.float32) for k, v in data.items()},
            {k: np.asarray(v["std"], np.float32) for k, v in data.items()},
        )


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray | None:
    """``balanced``: n / (k * count_c), as scikit-learn's ``compute_class_weight``; ``none``: None."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown class weighting {mode!r}")
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return (len(labels) / (n_classes * np.maximum(counts, 1))).astype(np.float32)


SAMPLINGS = ("shuffle", "balanced")  # training.sampling


def sampling_weights(labels: np.ndarray, mode: str) -> np.ndarray | None:
    """How likely each training row is to be drawn: ``balanced``, 1 / its class's count, so an epoch drawn
    with replacement holds every class equally often in expectation; ``shuffle``: None (a permutation)."""
    if mode == "shuffle":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown sampling {mode!r}; choose from {SAMPLINGS}")
    return 1.0 / np.bincount(labels)[labels]
