"""Spotting micro- and macro-expressions in long videos, thresholded under leave-one-subject-out.

The baseline spotter follows the MEGC optical-flow baselines: the flow (Farneback) between
frame t and the frames k before and after it, the median flow vector subtracted (head motion),
the mean of its largest magnitudes, the smaller of the two sides as the motion signal, a
moving-average smoothing, and peaks above a per-video threshold ``mean + p * (max - mean)``.
Each peak's interval is its width at half height. As in the MEGC baselines there are two
scales, each with its own k, smoothing and threshold: the micro scale keeps intervals up to
``micro_max_s`` seconds as micro-expressions, the macro scale longer ones as macro-expressions.

The protocol (:func:`evaluate_spotter`): for each test subject, each scale's threshold ``p`` is
chosen on the other subjects only (the best pooled F1 of its type over a grid), then applied to
the test subject.
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
from merauto.evaluator.spotting_metrics import SpotCounts, match

KINDS = ("micro", "macro")
THRESHOLDS = tuple(np.round(np.linspace(0.05, 0.95, 19), 2))  # p of mean + p * (max - mean)


@dataclass(frozen=True)
class SpotterParams:
    """The baseline spotter's hyper-parameters, in seconds so they carry across frame rates."""

    top: float = 0.05  # the fraction of largest flow magnitudes averaged (expressions move a small part of the face)
    micro_gap_s: float = 0.5  # k of the micro scale: motion of frame t against frames t - k and t + k
    micro_smooth_s: float = 0.05  # moving-average window of the micro scale's signal
    macro_gap_s: float = 2.0  # k of the macro scale
    macro_smooth_s: float = 0.3  # moving-average window of the macro scale's signal
    distance_s: float = 0.5  # the least time between two peaks of one scale
    micro_max_s: float = 0.5  # MEGC: a micro-expression lasts at most half a second; longer intervals are macro

    def scale(self, kind: str) -> tuple[float, float]:
        """The gap and smoothing (seconds) of the ``micro`` or ``macro`` scale."""
        return (self.micro_gap_s, self.micro_smooth_s) if kind == "micro" else (self.macro_gap_s, self.macro_smooth_s)

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


def detect(signal: np.ndarray, p: float, distance: int) -> list[tuple[int, int]]:
    """Frame ranges around the peaks above ``mean + p * (max - mean)``: each peak's width at half height."""
    height = float(signal.mean() + p * (signal.max() - signal.mean()))
    peaks, _ = find_peaks(signal, height=height, distance=max(1, distance))
    if len(peaks) == 0:
        return []
    _, _, left, right = peak_widths(signal, peaks, rel_height=0.5)
    return [(int(lo), int(hi)) for lo, hi in zip(np.floor(left), np.ceil(right), strict=True)]


@dataclass(frozen=True)
class VideoSignal:
    """A video's smoothed signal at the micro and the macro scale, with what detection needs."""

    subject: str
    signals: dict[str, np.ndarray]  # kind -> smoothed motion signal at that kind's scale
    truth: tuple[Interval, ...]
    distance: int
    micro_max: int

    def spotted(self, kind: str, p: float) -> list[Interval]:
        """``kind``'s intervals at threshold ``p``: the micro scale keeps those up to ``micro_max`` frames, the macro scale longer ones."""
        ranges = detect(self.signals[kind], p, self.distance)
        keep = (lambda n: n <= self.micro_max) if kind == "micro" else (lambda n: n > self.micro_max)
        return [Interval(lo, hi, kind) for lo, hi in ranges if keep(hi - lo + 1)]

    def counts(self, kind: str, p: float) -> SpotCounts:
        return match(self.spotted(kind, p), [t for t in self.truth if t.kind == kind])


def video_signals(
    videos: list[LongVideo], params: SpotterParams, memo: dict[tuple[str, str, int, float], np.ndarray] | None = None
) -> list[VideoSignal]:
    """Each video's smoothed signals under ``params`` (the costly step; everything after it is cheap).
    ``memo`` keeps the raw signals by video, gap and flow statistic, for a search that revisits them."""
    out = []
    memo = {} if memo is None else memo
    for v in videos:
        signals = {}
        for kind in KINDS:
            gap_s, smooth_s = params.scale(kind)
            key = (v.subject, v.name, params.frames(gap_s, v.fps), params.top)
            if key not in memo:
                memo[key] = motion_signal(v.frames, key[2], params.top)
            signals[kind] = smooth(memo[key], params.frames(smooth_s, v.fps))
        distance, micro_max = params.frames(params.distance_s, v.fps), params.frames(params.micro_max_s, v.fps)
        out.append(VideoSignal(v.subject, signals, v.truth, distance, micro_max))
    return out


def total(counts: list[dict[str, SpotCounts]]) -> dict[str, SpotCounts]:
    """Counts summed per type over videos, with ``overall`` the sum over types."""
    summed: dict[str, SpotCounts] = {}
    for by_kind in counts:
        for kind, c in by_kind.items():
            if kind != "overall":
                summed[kind] = summed.get(kind, SpotCounts()) + c
    summed["overall"] = sum(summed.values(), SpotCounts())
    return summed


def choose_thresholds(signals: list[VideoSignal]) -> dict[str, float]:
    """Per type, the grid value of ``p`` with the best pooled F1 of that type on ``signals`` (ties to the lower p)."""
    chosen = {}
    for kind in KINDS:
        scores = [sum((s.counts(kind, p) for s in signals), SpotCounts()).f1 for p in THRESHOLDS]
        chosen[kind] = float(THRESHOLDS[int(np.argmax(scores))])
    return chosen


def spot_counts(signal: VideoSignal, thresholds: dict[str, float]) -> dict[str, SpotCounts]:
    """A video's counts per type at ``thresholds``."""
    return {kind: signal.counts(kind, thresholds[kind]) for kind in KINDS}


@dataclass(frozen=True)
class SpotFold:
    """One outer fold: its test subject, the thresholds chosen without it, the inner and test counts."""

    subject: str
    thresholds: dict[str, float]
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
    """Outer fold of test subject ``subject``: inner leave-one-subject-out over the others, then the thresholds on all of them."""
    train = [s for s in signals if s.subject != subject]
    inner = []
    for held in sorted({s.subject for s in train}):
        thresholds = choose_thresholds([s for s in train if s.subject != held])
        inner += [spot_counts(s, thresholds) for s in train if s.subject == held]
    thresholds = choose_thresholds(train)
    test = [spot_counts(s, thresholds) for s in signals if s.subject == subject]
    return SpotFold(subject, thresholds, total(inner), total(test))


def evaluate_spotter(
    videos: list[LongVideo], params: SpotterParams, memo: dict[tuple[str, str, int, float], np.ndarray] | None = None
) -> SpotOutcome:
    """Leave-one-subject-out over the videos' subjects (at least three: inner folds need two); ``memo`` as for :func:`video_signals`."""
    signals = video_signals(videos, params, memo)
    subjects = sorted({v.subject for v in videos})
    if len(subjects) < 3:
        raise ValueError(f"spotting under nested leave-one-subject-out needs at least 3 subjects, not {len(subjects)}")
    return SpotOutcome([evaluate_fold(signals, s) for s in subjects])


@dataclass(frozen=True)
class Spotted:
    """An interval spotted in a new video: its frames, its apex (the signal's peak inside it) and that peak's height."""

    interval: Interval
    apex: int
    score: float


def spot_video(frames: np.ndarray, fps: float, params: SpotterParams, thresholds: dict[str, float]) -> tuple[list[Spotted], VideoSignal]:
    """Micro- and macro-expressions spotted in ``frames`` with chosen ``params`` and ``thresholds``, by
    start frame, and the video's signals they were found in."""
    (signal,) = video_signals([LongVideo("new", "new", frames, fps, ())], params)
    found = []
    for kind in KINDS:
        for interval in signal.spotted(kind, thresholds[kind]):
            window = signal.signals[kind][interval.start : interval.end + 1]
            found.append(Spotted(interval, interval.start + int(np.argmax(window)), float(window.max())))
    return sorted(found, key=lambda s: (s.interval.start, s.interval.kind)), signal
