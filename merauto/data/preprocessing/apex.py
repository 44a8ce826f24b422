"""Apex spotting for clips without an apex annotation."""

from __future__ import annotations

import cv2
import numpy as np

from merauto.data.preprocessing.flow import optical_flow

SPOTTING_SIZE = 64  # frames are downscaled to this width before spotting


def spot_apex(frames: list[np.ndarray], onset: int, offset: int) -> int:
    """Position of the frame in onset..offset whose optical flow from the onset is strongest.

    The mean flow magnitude over the frame is smoothed over three frames so a single noisy
    frame cannot win.
    """

    def small(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        return cv2.resize(image, (SPOTTING_SIZE, max(1, round(h * SPOTTING_SIZE / w))), interpolation=cv2.INTER_AREA)

    reference = small(frames[onset])
    magnitudes = np.zeros(offset - onset + 1, np.float64)
    for i, position in enumerate(range(onset + 1, offset + 1), start=1):
        flow = optical_flow(reference, small(frames[position]))
        magnitudes[i] = float(np.hypot(flow[..., 0], flow[..., 1]).mean())
    smoothed = np.convolve(magnitudes, np.ones(3) / 3, mode="same")
    return onset + int(np.argmax(smoothed))
