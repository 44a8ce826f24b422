"""Optical flow (OpenCV) and optical strain between two grey frames."""

from __future__ import annotations

import cv2
import numpy as np

FLOW_METHODS = ("farneback", "dis")


def optical_flow(first: np.ndarray, second: np.ndarray, method: str = "farneback") -> np.ndarray:
    """Dense flow (H, W, 2) in pixels that carries ``first`` onto ``second`` (grey, 0..255)."""
    a = np.clip(first, 0, 255).astype(np.uint8)
    b = np.clip(second, 0, 255).astype(np.uint8)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 5, 5, 1.1, 0)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    raise ValueError(f"unknown optical flow method {method!r}; choose from {FLOW_METHODS}")


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the optical strain tensor of ``flow``: sqrt(exx^2 + eyy^2 + 2 exy^2)."""
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    exy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2 * exy**2).astype(np.float32)


def flow_strain_map(onset: np.ndarray, apex: np.ndarray, size: int, method: str = "farneback") -> np.ndarray:
    """STSTNet-style input (3, size, size): horizontal flow, vertical flow, optical strain.

    Flow is computed at the frames' resolution and resized; its values are rescaled to
    pixels of the resized map.
    """
    flow = optical_flow(onset, apex, method)
    strain = optical_strain(flow)
    scale = size / flow.shape[1]
    resized = cv2.resize(np.dstack([flow, strain]), (size, size), interpolation=cv2.INTER_AREA)
    resized[..., :2] *= scale
    return np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32)
