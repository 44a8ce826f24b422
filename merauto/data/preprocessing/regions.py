"""Regions of interest (survey §4.1.4): how an image stream's map becomes the model's input.

A region choice takes a stream's map at working resolution (C, H, W), the face's geometry
(eye and mouth centres, and named landmarks when the clip has them) and the output size,
and returns R regions stacked as channel groups (R follows from the channel count). Regions
are smaller than the whole map (grid blocks keep their share of it, patches are half its
side), so stacking them does not multiply what a trunk reads. Lengths carried by the map
(flow u, v and magnitude) are rescaled with it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from merauto.data.preprocessing.landmarks import LANDMARKS_FILE
from merauto.errors import MerautoError
from merauto.pipeline.registry import Component, Registry

LENGTH_ROLES = frozenset({"u", "v", "magnitude"})  # channels measured in pixels of the map
MIN_REGION = 8  # smallest region side (pixels) the trunks' pooling can take
# Landmarks whose neighbourhoods carry the action units of the composite classes (brows: AU1,
# 2, 4; eyes and lids: AU5, 6; mouth corners: AU12, 15).
PATCH_LANDMARKS = ("brow_inner_l", "brow_inner_r", "eye_l", "eye_r", "mouth_l", "mouth_r")


@dataclass(frozen=True)
class FaceGeometry:
    """Named points of the face in map pixels: always eye_l, eye_r and mouth; landmarks when known."""

    points: dict[str, np.ndarray]
    has_landmarks: bool = False

    @property
    def eye_distance(self) -> float:
        return max(float(np.hypot(*(self.points["eye_r"] - self.points["eye_l"]))), 1.0)


def resize_map(image: np.ndarray, roles: tuple[str, ...], size: int) -> np.ndarray:
    """(C, H, W) -> (C, size, size) by area averaging; length channels scaled by size / W."""
    out = np.stack([cv2.resize(channel, (size, size), interpolation=cv2.INTER_AREA) for channel in image])
    scale = size / image.shape[2]
    for c, role in enumerate(roles):
        if role in LENGTH_ROLES:
            out[c] *= scale
    return out


def region_size(size: int, fraction: int, choice: str) -> int:
    """``size // fraction``, refused when too small for the trunks."""
    side = size // fraction
    if side < MIN_REGION:
        raise MerautoError(
            f"roi {choice} makes regions of {side} px at input size {size}; trunks need at least {MIN_REGION}",
            f"use an input size of at least {MIN_REGION * fraction}, or another roi",
        )
    return side


def crop_square(image: np.ndarray, roles: tuple[str, ...], centre: np.ndarray, side: float, size: int) -> np.ndarray:
    """The square of ``side`` pixels centred on ``centre`` (edges replicated), resized to ``size``."""
    side_px = max(2, int(round(side)))
    x0, y0 = centre[0] - side_px / 2, centre[1] - side_px / 2
    shift = np.float32([[1, 0, -x0], [0, 1, -y0]])
    crop = np.stack([cv2.warpAffine(c, shift, (side_px, side_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for c in image])
    return resize_map(crop, roles, size)


class RegionChoice(Component):
    """A registered way of cutting a map into regions."""

    version = "1"
    needs_landmarks = False

    def available(self, context: Any = None) -> bool:
        return not self.needs_landmarks or context is None or bool(getattr(context, "landmarks", False))

    @abstractmethod
    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        """``image`` (C, H, W) -> (R * C, side, side) for R regions of ``side`` <= ``size`` pixels."""


REGIONS: Registry[RegionChoice] = Registry("roi")


@REGIONS.register
class WholeFace(RegionChoice):
    name = "whole"
    description = "the whole map, resized"

    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        return resize_map(image, roles, size)


@REGIONS.register
class BlockGrid(RegionChoice):
    name = "grid"
    version = "2"  # 2: regions at a fraction of the input size
    description = "equal blocks (n x n) of the map at size // n pixels, stacked as channels"
    choices = {"n": (2, 3)}
    defaults = {"n": 2}

    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        n = int(params["n"])
        side = region_size(size, n, self.name)
        whole = resize_map(image, roles, n * side)
        return np.concatenate([whole[:, i * side : (i + 1) * side, j * side : (j + 1) * side] for i in range(n) for j in range(n)])


@REGIONS.register
class EyesMouth(RegionChoice):
    name = "eyes_mouth"
    version = "2"  # 2: regions at a fraction of the input size
    description = "squares around each eye (with its brow) and the mouth at half the input size, stacked as channels"

    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        d = geometry.eye_distance
        up = np.array([0.0, -0.15 * d])  # eye squares reach up to the brows
        squares = [(geometry.points["eye_l"] + up, 0.8 * d), (geometry.points["eye_r"] + up, 0.8 * d), (geometry.points["mouth"], 1.1 * d)]
        out = region_size(size, 2, self.name)
        return np.concatenate([crop_square(image, roles, centre, side, out) for centre, side in squares])


@REGIONS.register
class MaskEyes(RegionChoice):
    name = "mask_eyes"
    description = "the whole map with discs over the eyes set to zero (blink suppression)"

    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        out = resize_map(image, roles, size)
        scale = size / image.shape[2]
        mask = np.ones((size, size), np.float32)
        for eye in ("eye_l", "eye_r"):
            centre = tuple(int(round(v * scale)) for v in geometry.points[eye])
            cv2.circle(mask, centre, max(1, int(round(0.3 * geometry.eye_distance * scale))), 0.0, -1)
        return out * mask[None]


@REGIONS.register
class LandmarkPatches(RegionChoice):
    name = "landmark_patches"
    version = "2"  # 2: regions at a fraction of the input size
    description = "squares on the brows, eyes and mouth corners at half the input size (needs landmarks), stacked as channels"
    needs_landmarks = True
    defaults = {"side": 0.5}

    def apply(self, image: np.ndarray, roles: tuple[str, ...], geometry: FaceGeometry, size: int, params: dict[str, Any]) -> np.ndarray:
        if not geometry.has_landmarks:
            raise MerautoError(
                "roi landmark_patches needs landmarks, and this clip has none",
                f"add {LANDMARKS_FILE} to every clip (or use face detector dlib), or choose another roi",
            )
        side = float(params["side"]) * geometry.eye_distance
        out = region_size(size, 2, self.name)
        return np.concatenate([crop_square(image, roles, geometry.points[name], side, out) for name in PATCH_LANDMARKS])
