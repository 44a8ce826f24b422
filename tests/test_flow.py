"""Optical flow, strain, flow-derived maps and apex spotting on images with known motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from merauto.data.preprocessing.apex import spot_apex
from merauto.data.preprocessing.flow import flow_components, optical_flow, optical_strain
from merauto.data.preprocessing.regions import resize_map


def _texture(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.uniform(0, 255, (size // 4, size // 4)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (0, 0), 1.0)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_flow_recovers_a_subpixel_translation(method: str) -> None:
    image = _texture()
    flow = optical_flow(image, _shift(image, 0.6, -0.4), method)
    centre = flow[24:72, 24:72]
    assert abs(np.median(centre[..., 0]) - 0.6) < 0.15
    assert abs(np.median(centre[..., 1]) + 0.4) < 0.15


def test_strain_of_a_translation_is_zero_and_of_a_stretch_is_not() -> None:
    translation = np.zeros((32, 32, 2), np.float32)
    translation[..., 0] = 0.7
    assert np.allclose(optical_strain(translation), 0)
    stretch = np.zeros((32, 32, 2), np.float32)
    stretch[..., 0] = np.linspace(0, 3.1, 32)[None, :]  # du/dx = 0.1
    assert np.allclose(optical_strain(stretch)[:, 1:-1], 0.1, atol=1e-5)


def test_flow_maps_are_resized_with_lengths_rescaled() -> None:
    image = _texture(112)
    flow = optical_flow(image, _shift(image, 2.0, 0.0))
    names = ("u", "v", "strain", "magnitude", "orientation")
    result = resize_map(flow_components(flow, names), names, size=28)
    assert result.shape == (5, 28, 28)
    centre = (slice(None), slice(6, 22), slice(6, 22))
    u, v, strain, magnitude, orientation = (np.median(channel) for channel in result[centre])
    assert abs(u - 0.5) < 0.1 and abs(magnitude - 0.5) < 0.1  # 2 px at 112 px is 0.5 px at 28 px
    assert abs(v) < 0.05 and abs(orientation) < 0.2 and strain < 0.05  # rightwards, rigid


def test_apex_spotting_finds_the_largest_motion() -> None:
    image = _texture()
    shifts = [0, 0.3, 0.8, 1.5, 2.0, 1.4, 0.9, 0.4]
    frames = [_shift(image, s, 0) for s in shifts]
    assert spot_apex(frames, 0, len(frames) - 1) in (3, 4, 5)
