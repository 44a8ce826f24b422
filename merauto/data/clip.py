"""One clip's frames: read lazily (:class:`ClipFrames`) and after preprocessing (:class:`PreparedClip`).

Preprocessing happens in the survey's order: face registration (one transform, estimated on
the onset frame, for every frame), then motion magnification of the onset..offset frames.
Apex spotting always reads the raw frames, so every stream of a clip agrees on its apex.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from merauto.data.frames import read_grey
from merauto.data.preprocessing.apex import spot_apex
from merauto.data.preprocessing.face import FACES, Registration, dlib_landmarker, template_points
from merauto.data.preprocessing.landmarks import landmarks_path, read_landmarks
from merauto.data.preprocessing.magnify import MAGNIFICATIONS
from merauto.data.preprocessing.regions import FaceGeometry
from merauto.data.sample_index import Sample
from merauto.errors import MerautoError

Step = tuple[str, dict[str, Any]]  # a preprocessing component by name, with its resolved parameters
NO_STEP: Step = ("none", {})


class ClipFrames:
    """Lazily read grey frames of one sample, with the apex resolved once."""

    def __init__(self, sample: Sample, apex_lookup: Callable[[Sample, ClipFrames], int]) -> None:
        self.sample = sample
        self._frames: dict[int, np.ndarray] = {}
        self._apex_lookup = apex_lookup
        self._apex: int | None = None

    def frame(self, position: int) -> np.ndarray:
        if position not in self._frames:
            self._frames[position] = read_grey(self.sample.frames[position])
        return self._frames[position]

    def all_frames(self) -> list[np.ndarray]:
        return [self.frame(i) for i in range(len(self.sample.frames))]

    @property
    def apex(self) -> int:
        """The annotated apex, else the spotted one."""
        if self.sample.apex is not None:
            return self.sample.apex
        if self._apex is None:
            self._apex = self._apex_lookup(self.sample, self)
        return self._apex


def estimate_apex(clip: ClipFrames) -> int:
    """Spot the apex of a clip from its frames (see :func:`merauto.data.preprocessing.apex.spot_apex`)."""
    return spot_apex(clip.all_frames(), clip.sample.onset, clip.sample.offset)


RegistrationLookup = Callable[[ClipFrames, Step], "Registration | None"]
WindowLookup = Callable[["PreparedClip"], np.ndarray]


def register_clip(clip: ClipFrames, face: Step) -> Registration | None:
    """Estimate the registration of ``clip`` with detector ``face`` on its onset frame."""
    name, params = face
    return FACES.get(name).register(clip.frame(clip.sample.onset), params)


class PreparedClip:
    """A clip's frames after face registration and magnification, computed on first use.

    ``registration`` and ``window`` let a caller supply cached transforms and magnified
    frames (see :class:`merauto.data.features.FeatureBuilder`); by default they are computed.
    """

    def __init__(
        self,
        clip: ClipFrames,
        face: Step = NO_STEP,
        magnification: Step = NO_STEP,
        registration: RegistrationLookup | None = None,
        window: WindowLookup | None = None,
    ) -> None:
        self.clip = clip
        self.sample = clip.sample
        self.face = face
        self.magnification = magnification
        self._lookup = registration or register_clip
        self._window_lookup = window
        self._registration: tuple[Registration | None] | None = None
        self._window: np.ndarray | None = None

    @property
    def apex(self) -> int:
        return self.clip.apex

    @property
    def registration(self) -> Registration | None:
        """The transform from frame to crop, or ``None`` when frames are used as read."""
        if self._registration is None:
            self._registration = (None if self.face[0] == "none" else self._lookup(self.clip, self.face),)
        return self._registration[0]

    def _registered(self, position: int) -> np.ndarray:
        image = self.clip.frame(position)
        return image if self.registration is None else self.registration.warp(image)

    def window(self) -> np.ndarray:
        """Frames onset..offset (T, H, W), grey 0..255, registered and magnified."""
        if self._window is None:
            magnified = self.magnification[0] != "none" and self._window_lookup is not None
            self._window = self._window_lookup(self) if magnified else self.compute_window()
        return self._window

    def compute_window(self) -> np.ndarray:
        """Register and magnify frames onset..offset (what :meth:`window` caches)."""
        frames = np.stack([self._registered(p) for p in range(self.sample.onset, self.sample.offset + 1)])
        name, params = self.magnification
        return MAGNIFICATIONS.get(name).apply(frames, self.sample.fps, params)

    def frame(self, position: int) -> np.ndarray:
        """Frame ``position`` (grey 0..255), registered; magnified when inside onset..offset."""
        if self.magnification[0] != "none" and self.sample.onset <= position <= self.sample.offset:
            return self.window()[position - self.sample.onset]
        return self._registered(position)

    def landmarks(self, position: int) -> dict[str, np.ndarray]:
        """Named points of frame ``position`` in prepared-frame pixels: from the clip's file, else from dlib
        when dlib is the face detector (so the cache key, which holds both, says where they came from)."""
        if landmarks_path(self.sample).is_file() or self.face[0] != "dlib":
            points = read_landmarks(self.sample, position)  # says what is missing when there is no file
        else:
            found = dlib_landmarker().landmarks(self.clip.frame(position))
            if found is None:
                raise MerautoError(
                    f"dlib found no face in frame {self.sample.frames[position]} of {self.sample.id}",
                    "annotate this clip's landmarks in landmarks.json beside its frames, or drop the clip",
                )
            points = found
        if self.registration is None:
            return points
        return {name: self.registration.points(xy[None])[0] for name, xy in points.items()}

    def has_landmarks(self) -> bool:
        return landmarks_path(self.sample).is_file() or self.face[0] == "dlib"

    def geometry(self) -> FaceGeometry:
        """Where the eyes and mouth are in the prepared frames: landmarks when known, else the template."""
        if self.has_landmarks():
            return FaceGeometry(self.landmarks(self.sample.onset), has_landmarks=True)
        if self.registration is not None:
            return FaceGeometry(template_points(float(self.face[1]["margin"]), self.registration.size))
        h, w = self.clip.frame(self.sample.onset).shape[:2]  # pre-cropped faces: the template, stretched to the frame
        return FaceGeometry({name: xy * np.array([w, h]) for name, xy in template_points(0.0, 1).items()})
