"""Face detection and registration (survey §4.1.1): detectors as registered, searchable options.

A detector finds the eyes (or, failing that, the face box) on a clip's onset frame; one
similarity transform computed from them is applied to every frame, so motion inside the clip
is preserved. Registered faces are ``size`` x ``size`` crops with the eyes on a horizontal
line at fixed template positions. Detection failures degrade: no eyes -> the face box with
its margin, no face -> the centred square of the frame; the outcome is recorded.
"""

from __future__ import annotations

import functools
import os
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from merauto.errors import MerautoError
from merauto.pipeline.registry import Component, Registry

# Where registration puts the eyes and mouth, as fractions of the crop at margin 0.
TEMPLATE = {"eye_l": (0.31, 0.36), "eye_r": (0.69, 0.36), "mouth": (0.5, 0.8)}

# Outcomes of registering one clip, best first; stored with the transform in the cache.
STATUSES = ("eyes", "face_box", "full_frame", "none")


def template_points(margin: float, size: int) -> dict[str, np.ndarray]:
    """Template positions (pixels of a ``size`` crop), pulled towards the centre by ``margin``."""
    return {name: (0.5 + (np.array(xy, np.float64) - 0.5) / (1.0 + margin)) * size for name, xy in TEMPLATE.items()}


@dataclass(frozen=True)
class Registration:
    """A 2x3 affine transform from frame pixels to the crop, the crop size and how it was found."""

    matrix: np.ndarray
    size: int
    status: str

    def warp(self, image: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(image, self.matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Frame points (N, 2) mapped into the crop."""
        return np.asarray(xy, np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_array(self) -> np.ndarray:
        return np.concatenate([self.matrix.ravel(), [self.size, STATUSES.index(self.status)]])

    @classmethod
    def from_array(cls, array: np.ndarray) -> Registration:
        return cls(np.asarray(array[:6], np.float64).reshape(2, 3), int(array[6]), STATUSES[int(array[7])])


def eyes_transform(eye_l: np.ndarray, eye_r: np.ndarray, margin: float, size: int) -> np.ndarray:
    """The similarity transform taking the image-left and image-right eye centres to the template."""
    target = template_points(margin, size)
    source_vec, target_vec = np.subtract(eye_r, eye_l), target["eye_r"] - target["eye_l"]
    scale = np.hypot(*target_vec) / max(np.hypot(*source_vec), 1e-6)
    angle = np.arctan2(source_vec[1], source_vec[0]) - np.arctan2(target_vec[1], target_vec[0])
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    linear = np.array([[cos, sin], [-sin, cos]])
    centre_source = (np.asarray(eye_l, np.float64) + eye_r) / 2
    centre_target = (target["eye_l"] + target["eye_r"]) / 2
    return np.hstack([linear, (centre_target - linear @ centre_source)[:, None]])


def box_transform(x: float, y: float, w: float, h: float, margin: float, size: int) -> np.ndarray:
    """Scale and translation taking a square around the box (grown by ``margin`` per side) to the crop."""
    side = max(w, h) * (1.0 + 2.0 * margin)
    scale = size / side
    cx, cy = x + w / 2, y + h / 2
    return np.array([[scale, 0.0, size / 2 - scale * cx], [0.0, scale, size / 2 - scale * cy]])


def full_frame(shape: tuple[int, ...], size: int) -> Registration:
    """The centred square of the frame, resized: what a failed detection falls back to."""
    h, w = shape[:2]
    scale = size / min(h, w)
    matrix = np.array([[scale, 0.0, size / 2 - scale * w / 2], [0.0, scale, size / 2 - scale * h / 2]])
    return Registration(matrix, size, "full_frame")


class FaceDetector(Component):
    """A registered face detector; :meth:`register` maps an onset frame to a :class:`Registration`."""

    defaults: dict[str, Any] = {"margin": 0.1, "size": 128}

    @abstractmethod
    def register(self, onset: np.ndarray, params: dict[str, Any]) -> Registration | None:
        """The transform of a clip, estimated on its grey ``onset`` frame (float 0..255); ``None``: use frames as read."""


FACES: Registry[FaceDetector] = Registry("face")


@FACES.register
class NoFace(FaceDetector):
    name = "none"
    description = "frames used as they are (pre-cropped datasets)"
    defaults: dict[str, Any] = {}

    def register(self, onset: np.ndarray, params: dict[str, Any]) -> Registration | None:
        return None


@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, name))
    if cascade.empty():
        raise MerautoError(
            f"OpenCV's Haar cascade {name} is missing from this opencv installation",
            "install opencv-python-headless>=4.10,<5 (the 5.x wheels ship no Haar cascades)",
        )
    return cascade


def _best_eye_pair(eyes: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The most plausible (image-left, image-right) eye centres among Haar detections inside a face box."""
    x, y, w, _ = box
    centres = [np.array([ex + ew / 2, ey + eh / 2], np.float64) + (x, y) for ex, ey, ew, eh in eyes]
    best, best_area = None, -1.0
    for i, left in enumerate(centres):
        for j, right in enumerate(centres):
            dx, dy = right - left
            if not (0.25 * w <= dx <= 0.7 * w and abs(dy) <= 0.25 * dx):
                continue
            if not (left[0] < x + w / 2 < right[0]):
                continue
            area = float(eyes[i][2] * eyes[i][3] + eyes[j][2] * eyes[j][3])
            if area > best_area:
                best, best_area = (left, right), area
    return best


@FACES.register
class HaarFace(FaceDetector):
    name = "haar"
    description = "OpenCV Viola-Jones face and eye cascades; eyes -> similarity transform"

    def register(self, onset: np.ndarray, params: dict[str, Any]) -> Registration:
        margin, size = float(params["margin"]), int(params["size"])
        grey = np.clip(onset, 0, 255).astype(np.uint8)
        side = min(grey.shape)
        faces = _cascade("haarcascade_frontalface_alt2.xml").detectMultiScale(grey, 1.05, 5, minSize=(side // 8, side // 8))
        found = len(faces) > 0
        # Without a face box, the eyes are still looked for in the whole frame (tightly cropped faces).
        x, y, w, h = (int(v) for v in max(faces, key=lambda f: f[2] * f[3])) if found else (0, 0, grey.shape[1], grey.shape[0])
        upper = grey[y : y + int(h * 0.6), x : x + w]
        eyes = _cascade("haarcascade_eye.xml").detectMultiScale(upper, 1.05, 3, minSize=(w // 10, w // 10), maxSize=(w // 3, w // 3))
        pair = _best_eye_pair(np.asarray(eyes).reshape(-1, 4), (x, y, w, h))
        if pair is not None:
            return Registration(eyes_transform(pair[0], pair[1], margin, size), size, "eyes")
        if found:
            return Registration(box_transform(x, y, w, h, margin, size), size, "face_box")
        return full_frame(grey.shape, size)


DLIB_PREDICTOR_ENV = "MERAUTO_DLIB_PREDICTOR"
# Named points of the iBUG 68-point scheme that dlib's predictor follows (image-left first).
DLIB_NAMES: dict[str, tuple[int, ...]] = {
    "eye_l": (36, 37, 38, 39, 40, 41),
    "eye_r": (42, 43, 44, 45, 46, 47),
    "brow_l": (19,),
    "brow_r": (24,),
    "brow_inner_l": (21,),
    "brow_inner_r": (22,),
    "nose_bridge": (27,),
    "nose_tip": (30,),
    "cheek_l": (1, 31),
    "cheek_r": (15, 35),
    "mouth_l": (48,),
    "mouth_r": (54,),
    "mouth": (62, 66),
    "chin": (8,),
}


class DlibLandmarker:
    """dlib's HOG face detector and 68-point shape predictor, reduced to merauto's named points."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise MerautoError(
                "face detector 'dlib' needs the dlib package, which is not installed",
                'pip install "merauto[landmarks]" and set MERAUTO_DLIB_PREDICTOR, or use face detector haar',
            ) from None
        path = os.environ.get(DLIB_PREDICTOR_ENV, "")
        if not path or not os.path.isfile(path):
            raise MerautoError(
                f"face detector 'dlib' needs a 68-point shape predictor file; ${DLIB_PREDICTOR_ENV} is {path or 'unset'}",
                f"set {DLIB_PREDICTOR_ENV} to the path of shape_predictor_68_face_landmarks.dat, or use face detector haar",
            )
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(path)
        self._rectangle = dlib.rectangle

    def landmarks(self, grey: np.ndarray) -> dict[str, np.ndarray] | None:
        """Named points (pixels) of the largest face in ``grey``, or ``None`` when no face is found."""
        image = np.clip(grey, 0, 255).astype(np.uint8)
        faces = self._detector(image, 1)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = self._predictor(image, face)
        points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
        return {name: points[list(idx)].mean(axis=0) for name, idx in DLIB_NAMES.items()}


@functools.lru_cache(maxsize=1)
def dlib_landmarker() -> DlibLandmarker:
    """The process's dlib backend, loaded once (the predictor file is large)."""
    return DlibLandmarker()


def dlib_ready() -> bool:
    """Whether the dlib backend can run here (package installed and predictor file set)."""
    try:
        dlib_landmarker()
    except MerautoError:
        return False
    return True


@FACES.register
class DlibFace(FaceDetector):
    name = "dlib"
    description = "dlib 68-point landmarks (extra: merauto[landmarks] + $MERAUTO_DLIB_PREDICTOR); eyes -> similarity transform"

    def available(self, context: Any = None) -> bool:
        return dlib_ready()

    def register(self, onset: np.ndarray, params: dict[str, Any]) -> Registration:
        margin, size = float(params["margin"]), int(params["size"])
        points = dlib_landmarker().landmarks(onset)
        if points is None:
            return full_frame(onset.shape, size)
        return Registration(eyes_transform(points["eye_l"], points["eye_r"], margin, size), size, "eyes")
