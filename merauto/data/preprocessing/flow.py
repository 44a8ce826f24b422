"""Optical flow (OpenCV) between two grey frames, and the maps derived from it: strain, magnitude, orientation."""

from __future__ import annotations

import cv2
import numpy as np

from merauto.errors import MerautoError

# TV-L1 lives in opencv-contrib (cv2.optflow); it is offered only where that is installed.
FLOW_METHODS: tuple[str, ...] = ("farneback", "dis") + (("tvl1",) if hasattr(cv2, "optflow") else ())
FLOW_COMPONENTS = ("u", "v", "strain", "magnitude", "orientation")


def optical_flow(first: np.ndarray, second: np.ndarray, method: str = "farneback") -> np.ndarray:
    """Dense flow (H, W, 2) in pixels that carries ``first`` onto ``second`` (grey, 0..255)."""
    a = np.clip(first, 0, 255).astype(np.uint8)
    b = np.clip(second, 0, 255).astype(np.uint8)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 5, 5, 1.1, 0)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    if method == "tvl1" and "tvl1" in FLOW_METHODS:
        return cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)
    raise MerautoError(
        f"optical flow method {method!r} is not available here",
        f"choose one of {', '.join(FLOW_METHODS)} (tvl1 needs opencv-contrib-python-headless instead of opencv-python-headless)",
    )


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the optical strain tensor of ``flow``: sqrt(exx^2 + eyy^2 + 2 exy^2)."""
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    exy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2 * exy**2).astype(np.float32)


def flow_components(flow: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Maps (len(names), H, W) of ``flow`` (H, W, 2): any of u, v, strain, magnitude, orientation (radians)."""
    maps = {
        "u": lambda: flow[..., 0],
        "v": lambda: flow[..., 1],
        "strain": lambda: optical_strain(flow),
        "magnitude": lambda: np.hypot(flow[..., 0], flow[..., 1]),
        "orientation": lambda: np.arctan2(flow[..., 1], flow[..., 0]),
    }
    unknown = [n for n in names if n not in maps]
    if unknown:
        raise MerautoError(f"unknown flow component(s) {unknown}", f"choose among {', '.join(FLOW_COMPONENTS)}")
    return np.ascontiguousarray(np.stack([maps[n]() for n in names]), dtype=np.float32)
