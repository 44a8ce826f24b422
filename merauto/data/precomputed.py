"""Streams read ready-made from files (e.g. STSTNet's flow+strain PNGs) instead of built from frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError


def read_stream_file(path: Path) -> np.ndarray:
    """An image file as a stream array (C, H, W) float32, channels in RGB order, values as stored."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MerautoError(f"cannot read precomputed input {path}", "replace the file from its distribution")
    if image.ndim == 2:
        return image[None].astype(np.float32)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)


def precomputed_stream(index: SampleIndex, kind: str, size: int | None) -> np.ndarray:
    """The stream ``kind`` of every sample (N, C, H, W), read from its files, resized to ``size`` if given."""
    if index.precomputed is None or kind not in index.precomputed:
        raise MerautoError(
            f"dataset {index.name} holds no frames and no precomputed {kind!r} stream",
            f"choose an input built from the streams it holds: {', '.join(sorted(index.precomputed or ()))}",
        )
    arrays = []
    for sample in index:
        array = read_stream_file(sample.precomputed[kind])
        if size is not None and array.shape[1:] != (size, size):
            resized = cv2.resize(array.transpose(1, 2, 0), (size, size), interpolation=cv2.INTER_AREA)
            array = resized.reshape(size, size, -1).transpose(2, 0, 1)
        arrays.append(array)
    return np.stack(arrays).astype(np.float32)
