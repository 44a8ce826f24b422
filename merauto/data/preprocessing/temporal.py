"""Temporal normalisation (survey §4.1.3): a clip resampled to a fixed number of frames.

Frames are interpolated linearly along time (TIM-style normalisation of clip length), with
the first and last frame kept exactly, so clips of any length and frame rate give sequences
of the same length. The same resampling of a random sub-window is a temporal augmentation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resample_frames(frames: np.ndarray, n: int) -> np.ndarray:
    """``frames`` (T, ...) resampled to (n, ...) by linear interpolation along time; ends are kept."""
    if n < 2:
        raise ValueError(f"a normalised clip needs at least 2 frames, not {n}")
    clip = torch.from_numpy(np.ascontiguousarray(frames, np.float32))
    flat = clip.reshape(clip.shape[0], -1).T[None]  # (1, pixels, T)
    resampled = F.interpolate(flat, size=n, mode="linear", align_corners=True)
    return resampled[0].T.reshape(n, *clip.shape[1:]).numpy()


def resample_windows(clips: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Each clip of ``clips`` (B, T, ...) resampled to T frames from its window [start, end] (fractions of its length)."""
    b, t = clips.shape[:2]
    positions = (starts[:, None] + (ends - starts)[:, None] * torch.linspace(0, 1, t, device=clips.device)[None]) * (t - 1)
    low = positions.floor().long().clamp(0, t - 1)
    high = (low + 1).clamp(max=t - 1)
    weight = (positions - low).view(b, t, *([1] * (clips.ndim - 2)))
    rows = torch.arange(b, device=clips.device)[:, None]
    return clips[rows, low] * (1 - weight) + clips[rows, high] * weight
