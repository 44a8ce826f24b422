"""Spotting micro- and macro-expressions in long videos, thresholded under leave-one-subject-out.

The baseline spotter follows the MEGC optical-flow baselines: the flow (Farneback) between
frame t and the frames k before and after it, the median flow vector subtracted (head motion),
the mean of its largest magnitudes, the smaller of the two sides as the motion signal, a
moving-average smoothing, and peaks above a per-video threshold ``mean + p * (max - mean)``.
Each peak's interval is its width at half height; intervals up to ``micro_max_s`` seconds are
micro-expressions, longer ones macro-expressions.

The protocol (:func:`evaluate_spotter`): for each test subject, the threshold ``p`` is chosen
on the other subjects only (the best pooled F1 over a grid), then applied to the test subject.
The objective a search sees is an inner score: within each outer fold, every training subject
is spotted with the ``p`` chosen on the remaining training subjects, and those counts are
pooled. No value computed from a test subject's video reaches either choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import find_peaks, peak_widths

from merauto.data.long_videos import Interval, LongVideo
from merauto.evaluator.spotting_metrics import SpotCounts, counts_by_kind

THRESHOLDS = tuple(np.round(np.linspace(0.05, 0.95, 19), 2))  # p of mean + p * (max - mean)


@dataclass(frozen=True)
class SpotterParams:
    """The baseline spotter's hyper-parameters, in seconds so they carry across frame rates."""

    top: float = 0.05  # the fraction of largest flow magnitudes averaged (expressions move a small part of the face)
    gap_s: float = 0.6  # k: motion of frame t against frames t - k and t + k
    smooth_s: float = 0.1  # moving-average window of the motion signal
    distance_s: float = 0.5  # the least time between two peaks
    micro_max_s: float = 0.5  # longer intervals are macro-expressions

    def frames(self, seconds: float, fps: float) -> int:
        return max(1, int(round(seconds * fps)))


def pair_motion(frames: np.ndarray, gap: int, top: float) -> np.ndarray:
    """For each frame t, the mean of the largest ``top`` fraction of flow magnitudes from frame t to
    t + ``gap`` after removing the median flow vector (head motion); 0 where t + gap is past the end."""
    n = len(frames)
    motion = np.zeros(n, np.float32)
    for t in range(n - gap):
        flow = cv2.calcOpticalFlowFarneback(frames[t], frames[t + gap], None, 0.5, 2, 9, 3, 5, 1.1, 0)
        flow -= np.median(flow.reshape(-1, 2), axis=0)
        magnitude = np.hypot(flow[..., 0], flow[..., 1]).ravel()
        k = max(1, int(top * magnitude.size))
        motion[t] = float(np.partition(magnitude, -k)[-k:].mean())
    return motion


def motion_signal(frames: np.ndarray, gap: int, top: float = 0.05) -> np.ndarray:
    """Per-frame motion against both sides: min(motion from t - gap to t, motion from t to t + gap).

    Within an expression shorter than ``gap`` frames both references are neutral, so the signal
    stays high across the whole interval; a lasting change (a head shift) is high on one side only.
    """
    forward = pair_motion(frames, gap, top)
    backward = np.concatenate([np.zeros(gap, np.float32), forward[: len(frames) - gap]])
    return np.minimum(forward, backward)


def smooth(signal: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` frames (same length)."""
    if window <= 1:
        return signal
    return np.convolve(signal, np.ones(window) / window, mode="same").astype(np.float32)


def detect(signal: np.ndarray, p: float, distance: int, micro_max: int) -> list[Interval]:
    """Intervals around the peaks above ``mean + p * (max - mean)``: each peak's width at half height."""
    height = float(signal.mean() + p * (signal.max() - signal.mean()))
    peaks, _ = find_peaks(signal, height=height, distance=max(1, distance))
    if len(peaks) == 0:
        return []
    _, _, left, right = peak_widths(signal, peaks, rel_height=0.5)
    intervals = []
    for lo, hi in zip(np.floor(left).astype(int), np.ceil(right).astype(int), strict=True):
        kind = "micro" if hi - lo + 1 <= micro_max else "macro"
        intervals.append(Interval(int(lo), int(hi), kind))
    return intervals


@dataclass(frozen=True)
class VideoSignal:
    """A video's smoothed motion signal with what detection needs."""

    subject: str
    signal: np.ndarray
    truth: tuple[Interval, ...]
    distance: int
    micro_max: int

    def counts(self, p: float) -> dict[str, SpotCounts]:
        return counts_by_kind(detect(self.signal, p, self.distance, self.micro_max), self.truth)


def video_signals(
    videos: list[LongVideo], params: SpotterParams, memo: dict[tuple[str, str, int, float], np.ndarray] | None = None
) -> list[VideoSignal]:
    """Each video's smoothed signal under ``params`` (the costly step; everything after it is cheap).
    ``memo`` keeps the raw signals by video, gap and flow statistic, for a search that revisits them."""
    out = []
    memo = {} if memo is None else memo
    for v in videos:
        key = (v.subject, v.name, params.frames(params.gap_s, v.fps), params.top)
        if key not in memo:
            memo[key] = motion_signal(v.frames, key[2], params.top)
        raw = memo[key]
        signal = smooth(raw, params.frames(params.smooth_s, v.fps))
        out.append(
            VideoSignal(v.subject, signal, v.truth, params.frames(params.distance_s, v.fps), params.frames(params.micro_max_s, v.fps))
        )
    return out


def total(counts: list[dict[str, SpotCounts]]) -> dict[str, SpotCounts]:
    """Counts summed per type over videos, with ``overall`` the sum over types."""
    summed: dict[str, SpotCounts] = {}
    for by_kind in counts:
        for kind, c in by_kind.items():
            summed[kind] = summed.get(kind, SpotCounts()) + c
    summed["overall"] = sum((c for k, c in summed.items() if k != "overall"), SpotCounts())
    return summed


def choose_threshold(signals: list[VideoSignal]) -> float:
    """The grid value of ``p`` with the best pooled overall F1 on ``signals`` (ties to the lower p)."""
    scores = [total([s.counts(p) for s in signals])["overall"].f1 for p in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


@dataclass(frozen=True)
class SpotFold:
    """One outer fold: its test subject, the threshold chosen without it, the inner and test counts."""

    subject: str
    threshold: float
    inner: dict[str, SpotCounts]
    test: dict[str, SpotCounts]


@dataclass(frozen=True)
class SpotOutcome:
    """A spotter's nested evaluation: every outer fold."""

    folds: list[SpotFold]

    def inner(self) -> dict[str, SpotCounts]:
        return total([f.inner for f in self.folds])

    def test(self) -> dict[str, SpotCounts]:
        return total([f.test for f in self.folds])

    def objective(self) -> float:
        """Pooled inner-validation overall F1: what a search optimises."""
        return self.inner()["overall"].f1


def evaluate_fold(signals: list[VideoSignal], subject: str) -> SpotFold:
    """Outer fold of test subject ``subject``: inner leave-one-subject-out over the others, then the threshold on all of them."""
    train = [s for s in signals if s.subject != subject]
    inner = []
    for held in sorted({s.subject for s in train}):
        rest = [s for s in train if s.subject != held]
        p = choose_threshold(rest)
        inner += [s.counts(p) for s in train if s.subject == held]
    threshold = choose_threshold(train)
    test = [s.counts(threshold) for s in signals if s.subject == subject]
    return SpotFold(subject, threshold, total(inner), total(test))


def evaluate_spotter(
    videos: list[LongVideo], params: SpotterParams, memo: dict[tuple[str, str, int, float], np.ndarray] | None = None
) -> SpotOutcome:
    """Leave-one-subject-out over the videos' subjects (at least three: inner folds need two); ``memo`` as for :func:`video_signals`."""
    signals = video_signals(videos, params, memo)
    subjects = sorted({v.subject for v in videos})
    if len(subjects) < 3:
        raise ValueError(f"spotting under nested leave-one-subject-out needs at least 3 subjects, not {len(subjects)}")
    return SpotOutcome([evaluate_fold(signals, s) for s in subjects])
