"""Dynamic images (survey §4.2.2): a clip summarised by approximate rank pooling (Bilen et al., 2016)."""

from __future__ import annotations

import numpy as np


def rank_pooling_coefficients(n: int) -> np.ndarray:
    """Approximate rank pooling weights alpha_t = 2 (T - t + 1) - (T + 1) (H_T - H_{t-1}), t = 1..T."""
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
    t = np.arange(1, n + 1)
    return 2.0 * (n - t + 1) - (n + 1) * (harmonic[n] - harmonic[t - 1])


def dynamic_image(frames: np.ndarray) -> np.ndarray:
    """The dynamic image of ``frames`` (T, H, W): sum_t alpha_t I_t, scaled by sum_t |alpha_t|.

    The scaling makes clips of different lengths comparable; the weights sum to zero, so a
    static clip gives zero and the image holds only what changes, signed by its direction in time.
    """
    alpha = rank_pooling_coefficients(len(frames))
    return (np.tensordot(alpha, frames.astype(np.float64), axes=1) / np.abs(alpha).sum()).astype(np.float32)
