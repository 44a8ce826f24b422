"""Reading the frames of a long-video set without holding full-resolution frames: each video is cropped
to one face box (found by the Haar detector on its first frames where a face shows, grown by a
margin), resized to ``frame_size`` grey and subsampled to every ``step``-th frame.

Frames are decoded at a reduced scale where the face stays larger than ``frame_size`` (JPEG
decoders scale while decoding), on a few threads. Each processed video is cached under a key of
its frame files' names, sizes and modification times, the frame size, the step and this
loader's version, so a second read takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from merauto.data.cache import FeatureCache, content_key
from merauto.data.checks.findings import Finding
from merauto.data.long_videos.folders import Interval, LongVideo
from merauto.data.preprocessing.face import FACES
from merauto.data.sources.long_video_catalogue import NO_FACE, UNREADABLE_FRAME, LongVideoCatalogue, VideoFolder
from merauto.errors import MerautoError

LOADER_VERSION = "1"
FACE_MARGIN = 0.2  # per side, of the detected face: room for head motion over the whole video
FACE_TRIES = 10  # frames tried for a face, half a second apart from the first
DETECT_SIDE = 640  # frames are shrunk to at most this many pixels a side for face detection
_DECODE = {8: cv2.IMREAD_REDUCED_GRAYSCALE_8, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 1: cv2.IMREAD_GRAYSCALE}
Progress = Callable[[int, int], None]


def _decode(path: Path, flag: int = cv2.IMREAD_GRAYSCALE) -> np.ndarray:
    frame = cv2.imread(str(path), flag)
    if frame is None:
        raise MerautoError(f"{path} cannot be decoded as an image", "re-extract the frame from the dataset, or replace the damaged file")
    return frame


def face_square(grey: np.ndarray) -> tuple[float, float, float] | None:
    """Centre x, y and side (frame pixels) of the square holding the face with its margin, or ``None`` when none is found."""
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    size = 100
    registration = FACES.get("haar").register(small.astype(np.float32), {"margin": FACE_MARGIN, "size": size})
    if registration.status == "full_frame":
        return None
    linear, shift = registration.matrix[:, :2], registration.matrix[:, 2]
    centre = np.linalg.solve(linear, np.full(2, (size - 1) / 2) - shift)  # pixel-centre coordinates, as warpAffine's
    x, y = (centre + 0.5) / scale - 0.5
    return float(x), float(y), float(size / np.sqrt(abs(np.linalg.det(linear))) / scale)


def _tries(video: VideoFolder, fps: float) -> Iterator[Path]:
    gap = max(1, round(fps / 2))
    return (video.frames[k * gap] for k in range(FACE_TRIES) if k * gap < len(video.frames))


def _crop(video: VideoFolder, fps: float, frame_size: int) -> tuple[Callable[[Path], np.ndarray], bool]:
    """A function reading one frame of ``video`` as its ``frame_size`` face crop, and whether a face was found."""
    square, shape = None, None
    for path in _tries(video, fps):
        grey = _decode(path)
        shape = shape or grey.shape
        square = face_square(grey)
        if square is not None:
            break
    assert shape is not None
    side = square[2] if square else min(shape)
    reduction = next(r for r in _DECODE if r == 1 or side / r >= frame_size)
    flag = _DECODE[reduction]
    expected = _decode(video.frames[0], flag).shape

    def read(path: Path) -> np.ndarray:
        frame = _decode(path, flag)
        if frame.shape != expected:
            size = _decode(path).shape
            raise MerautoError(
                f"{path} is {size[1]}x{size[0]}, the first frame of its video {shape[1]}x{shape[0]}",
                "extract every frame of a video at one size",
            )
        return crop_square(frame, square, frame_size, reduction)

    return read, square is not None


def crop_square(frame: np.ndarray, square: tuple[float, float, float] | None, frame_size: int, reduction: int = 1) -> np.ndarray:
    """``frame`` (decoded at 1/``reduction`` scale) cut to the face ``square`` (full-scale centre x, y and side;
    ``None``: the whole frame) and resized to ``frame_size`` a side."""
    if square is not None:  # pixel centres: full-scale x is (x + 0.5) / reduction - 0.5 at the reduced scale
        x, y, s = (square[0] + 0.5) / reduction - 0.5, (square[1] + 0.5) / reduction - 0.5, round(square[2] / reduction)
        frame = cv2.getRectSubPix(frame, (s, s), (x, y))
    return cv2.resize(frame, (frame_size, frame_size), interpolation=cv2.INTER_AREA)


def face_crops(frames: np.ndarray, fps: float, frame_size: int, step: int) -> tuple[np.ndarray, bool]:
    """A new video's grey ``frames`` as the long-video sets are read: every ``step``-th frame cut to one face
    box (found as for a set's videos) and resized to ``frame_size``; and whether a face was found."""
    gap = max(1, round(fps / 2))
    square = next((s for k in range(0, min(len(frames), FACE_TRIES * gap), gap) if (s := face_square(frames[k])) is not None), None)
    return np.stack([crop_square(f, square, frame_size) for f in frames[::step]]), square is not None


def processed_frames(
    video: VideoFolder, fps: float, frame_size: int, step: int, cache: FeatureCache, tick: Callable[[int], None]
) -> tuple[np.ndarray, bool]:
    """Every ``step``-th frame of ``video`` as a (n, frame_size, frame_size) uint8 face crop, and whether a face was found.

    Read from the cache when this content was processed before; ``tick(k)`` reports ``k`` more frames done.
    """
    key = content_key("long-video", LOADER_VERSION, FACES.get("haar").version, video.stamp, fps, frame_size, step)
    face_key = content_key(key, "face")
    frames, face = cache.load(key), cache.load(face_key)
    kept = video.frames[::step]
    if frames is not None and face is not None:
        tick(len(kept))
        return frames, bool(face[0])
    read, found = _crop(video, fps, frame_size)
    out = np.empty((len(kept), frame_size, frame_size), np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, frame in enumerate(pool.map(read, kept)):
            out[i] = frame
            tick(1)
    cache.save(key, out)
    cache.save(face_key, np.array([found], np.uint8))
    return out, found


def kept_interval(interval: Interval, step: int) -> Interval:
    """An interval of frame positions mapped to the kept frames (both ends floor-divided): one shorter than the step keeps a frame."""
    return replace(interval, start=interval.start // step, end=interval.end // step)


def read_long_videos(
    catalogue: LongVideoCatalogue, frame_size: int, step: int, cache_dir: Path, progress: Progress | None = None, keep_going: bool = False
) -> tuple[list[LongVideo], list[Finding]]:
    """Every video of ``catalogue`` processed (see the module), with its intervals on the kept frames, and the findings.

    A frame that cannot be read raises a :class:`MerautoError` naming it, unless ``keep_going``: then it
    is a finding and its video is left out.
    """
    cache, total, done = FeatureCache(cache_dir), sum(len(v.frames[::step]) for v in catalogue.videos), 0
    videos, findings = [], []

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None and (done % 50 < k or done == total):
            progress(done, total)

    for video in catalogue.videos:
        try:
            frames, found = processed_frames(video, catalogue.fps, frame_size, step, cache, tick)
        except MerautoError as exc:
            if not keep_going:
                raise
            findings.append(Finding(catalogue.source, f"{video.subject}/{video.name}", UNREADABLE_FRAME, exc.problem, exc.fix or "", True))
            continue
        if not found:
            message = f"no face found on the first {FACE_TRIES} frames tried (every {round(catalogue.fps / 2)} frames from the first)"
            findings.append(Finding(catalogue.source, f"{video.subject}/{video.name}", NO_FACE, message, "check the video shows a face"))
        truth = tuple(kept_interval(i, step) for i in catalogue.truth.get(video.key, ()))
        videos.append(LongVideo(video.subject, video.name, frames, catalogue.fps / step, truth))
    return videos, findings
