"""Farneback flow of long videos, computed once per video and gap and kept by content.

Both spotters read the same flow: the optical-flow baseline the mean of its largest magnitudes
(per fraction ``top``), the shallow network its fields area-resized to a small square. One pass
over a video at a gap computes the flow of every frame pair (t, t + gap), removes its median
vector (head motion), and keeps every statistic and field size the spotters' grids can ask for,
so a trial that changes ``top`` or the network costs no flow at all. With a cache folder the
results go to the content-addressed cache (:class:`merauto.data.cache.FeatureCache`), keyed by
the frames' bytes: later trials, a resumed study and other runs over the same videos skip the
flow, and a video a leak canary corrupted is a different video. Frame pairs run on threads
(OpenCV releases the GIL while it computes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from merauto.data.cache import FeatureCache, content_key

TOPS = (0.01, 0.02, 0.05, 0.1, 0.2)  # the baseline's grid of ``top``: each is kept from one pass
FIELD_SIZES = (16,)  # the shallow network's flow sizes
FARNEBACK = (0.5, 2, 9, 3, 5, 1.1, 0)  # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags
FLOW_VERSION = 1  # bump when what a pass computes changes: cached results of the old one are not read

Progress = Callable[[int, int], None]  # (frame pairs done, frame pairs in all)


def _pair(frames: np.ndarray, t: int, gap: int, tops: tuple[float, ...], sizes: tuple[int, ...]) -> tuple[list[float], list[np.ndarray]]:
    """Frame pair (t, t + gap): the mean of the largest ``top`` fraction of magnitudes per top, and the field per size."""
    flow = cv2.calcOpticalFlowFarneback(frames[t], frames[t + gap], None, *FARNEBACK)
    flow -= np.median(flow.reshape(-1, 2), axis=0)
    magnitude = np.hypot(flow[..., 0], flow[..., 1]).ravel()
    stats = [float(np.partition(magnitude, -k)[-k:].mean()) for k in (max(1, int(top * magnitude.size)) for top in tops)]
    fields = [cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1).astype(np.float16) for size in sizes]
    return stats, fields


class FlowBank:
    """Per video and gap, the flow statistics (``motion``) and fields (``fields``) both spotters read; see the module docstring.

    ``cache``: where results are kept across processes (``None``: this process only). ``workers``: threads per pass."""

    def __init__(self, cache: FeatureCache | None = None, workers: int | None = None) -> None:
        self.cache = cache
        self.workers = workers or max(1, os.cpu_count() or 1)
        self._kept: dict[str, np.ndarray] = {}
        self._fingerprints: dict[int, tuple[np.ndarray, str]] = {}  # id(frames) -> (frames, digest); held, so the id stays its

    def motion(self, frames: np.ndarray, gap: int, top: float) -> np.ndarray:
        """(n,) float32: per frame t, the mean of the largest ``top`` fraction of flow magnitudes from t to t + ``gap`` (0 past the end)."""
        return self._product(frames, gap, "motion", top)

    def fields(self, frames: np.ndarray, gap: int, size: int) -> np.ndarray:
        """(n, 2, size, size) float16: the flow from t to t + ``gap``, median removed, area-resized (0 past the end)."""
        return self._product(frames, gap, "fields", size)

    def missing(self, videos: Iterable[np.ndarray], gaps: Iterable[int]) -> list[tuple[np.ndarray, int]]:
        """The (frames, gap) passes not yet computed, in memory or in the cache."""
        return [(frames, gap) for frames in videos for gap in sorted(set(gaps)) if not self._has(frames, gap, "motion", TOPS[0])]

    def prepare(self, videos: Iterable[np.ndarray], gaps: Iterable[int], progress: Progress | None = None) -> int:
        """Compute every pass of ``videos`` at ``gaps`` not yet done, reporting frame pairs done; returns the passes computed."""
        todo = self.missing(list(videos), list(gaps))
        total, done = sum(max(0, len(frames) - gap) for frames, gap in todo), 0
        for frames, gap in todo:
            report = None if progress is None else (lambda n, _, start=done: progress(start + n, total))
            self._pass(frames, gap, TOPS, FIELD_SIZES, report)
            done += max(0, len(frames) - gap)
        return len(todo)

    def _key(self, frames: np.ndarray, gap: int, kind: str, value: float) -> str:
        return content_key("spot-flow", FLOW_VERSION, FARNEBACK, self._fingerprint(frames), gap, kind, value)

    def _fingerprint(self, frames: np.ndarray) -> str:
        held = self._fingerprints.get(id(frames))
        if held is None or held[0] is not frames:
            digest = hashlib.sha256(f"{frames.shape}:{frames.dtype}".encode())
            digest.update(np.ascontiguousarray(frames).data)
            held = self._fingerprints[id(frames)] = (frames, digest.hexdigest())
        return held[1]

    def _has(self, frames: np.ndarray, gap: int, kind: str, value: float) -> bool:
        key = self._key(frames, gap, kind, value)
        if key in self._kept:
            return True
        stored = self.cache.load(key) if self.cache is not None else None
        if stored is not None:
            self._kept[key] = stored
        return stored is not None

    def _product(self, frames: np.ndarray, gap: int, kind: str, value: float) -> np.ndarray:
        if not self._has(frames, gap, kind, value):
            tops = TOPS if kind == "fields" or value in TOPS else (*TOPS, value)
            sizes = FIELD_SIZES if kind == "motion" or value in FIELD_SIZES else (*FIELD_SIZES, int(value))
            self._pass(frames, gap, tops, sizes)
        return self._kept[self._key(frames, gap, kind, value)]

    def _pass(
        self, frames: np.ndarray, gap: int, tops: tuple[float, ...], sizes: tuple[int, ...], progress: Progress | None = None
    ) -> None:
        """One pass over ``frames`` at ``gap``: every statistic in ``tops`` and field size in ``sizes``, kept and cached."""
        n = len(frames)
        motion = np.zeros((len(tops), n), np.float32)
        fields = [np.zeros((n, 2, size, size), np.float16) for size in sizes]
        pairs = range(max(0, n - gap))
        with ThreadPoolExecutor(self.workers) as pool:
            for t, (stats, resized) in zip(pairs, pool.map(lambda t: _pair(frames, t, gap, tops, sizes), pairs), strict=True):
                motion[:, t] = stats
                for out, field in zip(fields, resized, strict=True):
                    out[t] = field
                if progress is not None and (t % 256 == 255 or t == len(pairs) - 1):
                    progress(t + 1, len(pairs))
        products = {("motion", top): motion[k] for k, top in enumerate(tops)}
        products.update({("fields", size): out for size, out in zip(sizes, fields, strict=True)})
        for (kind, value), array in products.items():
            key = self._key(frames, gap, kind, value)
            self._kept[key] = array
            if self.cache is not None:
                self.cache.save(key, array)
