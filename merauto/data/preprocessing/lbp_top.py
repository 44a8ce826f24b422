"""LBP-TOP (Zhao and Pietikainen, 2007): local binary patterns on three orthogonal planes, a hand-crafted input."""

from __future__ import annotations

import numpy as np
from skimage.feature import local_binary_pattern

LBP_POINTS = 8
LBP_BINS = LBP_POINTS * (LBP_POINTS - 1) + 3  # non-rotation-invariant uniform patterns (59 for 8 points)


def _codes(image: np.ndarray, radius: int) -> np.ndarray:
    return local_binary_pattern(image, LBP_POINTS, radius, method="nri_uniform").astype(np.int64)


def lbp_top(volume: np.ndarray, blocks: int, radius: int = 1) -> np.ndarray:
    """Concatenated, per-block normalised histograms of XY, XT and YT patterns of ``volume`` (T, H, W).

    The face is cut into ``blocks`` x ``blocks`` spatial blocks (each spanning the whole
    clip); each block and plane gives one 59-bin histogram: (3 * blocks^2 * 59,) floats.
    Pixels within ``radius`` of a plane's edges have no full neighbourhood and are not counted.
    """
    t, h, w = volume.shape
    if t <= 2 * radius:
        raise ValueError(f"LBP-TOP with radius {radius} needs more than {2 * radius} frames, got {t}")
    image = np.clip(volume, 0, 255).astype(np.uint8)
    planes = (
        np.stack([_codes(image[k], radius) for k in range(t)]),  # XY: one image per frame
        np.stack([_codes(image[:, y, :], radius) for y in range(h)], axis=1),  # XT: one (T, W) image per row
        np.stack([_codes(image[:, :, x], radius) for x in range(w)], axis=2),  # YT: one (T, H) image per column
    )
    block_of = (np.arange(h)[:, None] * blocks // h) * blocks + np.arange(w)[None, :] * blocks // w
    inner_t, inner_y, inner_x = (np.abs(np.arange(n) - (n - 1) / 2) <= (n - 1) / 2 - radius for n in (t, h, w))
    valid_planes = (
        inner_y[None, :, None] & inner_x[None, None, :],  # XY: away from the image edges
        inner_t[:, None, None] & inner_x[None, None, :],  # XT: away from the clip ends and left/right edges
        inner_t[:, None, None] & inner_y[None, :, None],  # YT: away from the clip ends and top/bottom edges
    )
    histograms = []
    for codes, valid in zip(planes, valid_planes, strict=True):
        bins = (block_of[None] * LBP_BINS + codes)[np.broadcast_to(valid, codes.shape)]
        counts = np.bincount(bins, minlength=blocks * blocks * LBP_BINS)
        per_block = counts.reshape(blocks * blocks, LBP_BINS).astype(np.float64)
        histograms.append(per_block / np.maximum(per_block.sum(axis=1, keepdims=True), 1))
    return np.concatenate(histograms, axis=None).astype(np.float32)
