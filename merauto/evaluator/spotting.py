"""Spotting micro- and macro-expressions in long videos: peak detection on per-frame signals and
the nested leave-one-subject-out protocol that thresholds it.

A spotter (:mod:`merauto.evaluator.spotters`) turns each video into one signal per expression
type (micro, macro), smoothed. Detection is shared: peaks above a per-video height
``mean + p * (max - mean)``, each peak's interval its width at half height, the micro signal
keeping intervals up to ``micro_max`` frames as micro-expressions and the macro signal longer
ones as macro-expressions (MEGC's definition: a micro-expression lasts at most half a second).

The protocol (:func:`evaluate_spotter`): for each test subject, the spotter gives signals of the
training subjects and of the test subject computed without the test subject's labels, and each
type's threshold ``p`` is chosen on the training subjects' signals only (the best pooled F1 of
that type over a grid), then applied to the test subject. Test counts, what merauto reports, are
MEGC's: each type scored as the official STRS script scores a set
(:mod:`merauto.evaluator.spotting_metrics`). The choices (thresholds, and the inner score a search
optimises) count every video instead, so that spotting nothing in a hard subject, or spotting in
a video with nothing coded, is never free: the script's blind spots are not for a search to learn.
The objective a search sees is an inner score: within each outer fold, every training subject is
spotted with the ``p`` chosen on the remaining training subjects, and those counts are pooled. No
value computed from a test subject's video reaches either choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import find_peaks, peak_widths

from merauto.data.long_videos.folders import Interval
from merauto.evaluator.spotting_metrics import SpotCounts, match, subject_counts

KINDS = ("micro", "macro")
THRESHOLDS = tuple(np.round(np.linspace(0.05, 0.95, 19), 2))  # p of mean + p * (max - mean)


def frames_of(seconds: float, fps: float) -> int:
    """A duration in frames (at least one)."""
    return max(1, int(round(seconds * fps)))


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
class Spotted:
    """An interval spotted in a video: its frames, its apex (the signal's peak inside it) and that peak's height."""

    interval: Interval
    apex: int
    score: float


@dataclass(frozen=True)
class Detection:
    """How intervals are read off a spotter's raw signals, in seconds so it carries across frame rates."""

    micro_smooth_s: float
    macro_smooth_s: float
    distance_s: float  # the least time between two peaks of one signal
    micro_max_s: float = 0.5  # MEGC: a micro-expression lasts at most half a second; longer intervals are macro

    def smoothing(self, kind: str) -> float:
        return self.micro_smooth_s if kind == "micro" else self.macro_smooth_s


@dataclass(frozen=True)
class VideoSignal:
    """A video's smoothed signal per expression type, with what detection needs."""

    subject: str
    name: str
    signals: dict[str, np.ndarray]  # kind -> smoothed signal
    truth: tuple[Interval, ...]
    distance: int
    micro_max: int

    def spotted(self, kind: str, p: float) -> list[Interval]:
        """``kind``'s intervals at threshold ``p`` by onset (the order MEGC's matching takes them in): the micro
        signal keeps those up to ``micro_max`` frames, the macro one longer ones."""
        ranges = detect(self.signals[kind], p, self.distance)
        keep = (lambda n: n <= self.micro_max) if kind == "micro" else (lambda n: n > self.micro_max)
        return sorted((Interval(lo, hi, kind) for lo, hi in ranges if keep(hi - lo + 1)), key=lambda i: i.start)

    def found(self, thresholds: dict[str, float]) -> list[Spotted]:
        """Every interval spotted at ``thresholds``, with its apex and score, by start frame."""
        out = []
        for kind in KINDS:
            for interval in self.spotted(kind, thresholds[kind]):
                window = self.signals[kind][interval.start : interval.end + 1]
                out.append(Spotted(interval, interval.start + int(np.argmax(window)), float(window.max())))
        return sorted(out, key=lambda s: (s.interval.start, s.interval.kind))


def video_signal(
    subject: str, name: str, raw: dict[str, np.ndarray], truth: tuple[Interval, ...], fps: float, detection: Detection
) -> VideoSignal:
    """A video's :class:`VideoSignal` from its raw per-type signals, smoothed as ``detection`` says."""
    smoothed = {kind: smooth(raw[kind], frames_of(detection.smoothing(kind), fps)) for kind in KINDS}
    return VideoSignal(subject, name, smoothed, truth, frames_of(detection.distance_s, fps), frames_of(detection.micro_max_s, fps))


def total(counts: list[dict[str, SpotCounts]]) -> dict[str, SpotCounts]:
    """Counts summed per type over videos, with ``overall`` the sum over types."""
    summed: dict[str, SpotCounts] = {}
    for by_kind in counts:
        for kind, c in by_kind.items():
            if kind != "overall":
                summed[kind] = summed.get(kind, SpotCounts()) + c
    summed["overall"] = sum(summed.values(), SpotCounts())
    return summed


def kind_counts(signals: list[VideoSignal], kind: str, p: float, official: bool = True) -> SpotCounts:
    """``kind``'s counts at threshold ``p`` over ``signals``: each subject's videos counted together as MEGC's
    script counts them, or (``official=False``) every video scored, as the choices below count them."""
    by_subject: dict[str, list[tuple[list[Interval], list[Interval]]]] = {}
    for s in signals:
        by_subject.setdefault(s.subject, []).append((s.spotted(kind, p), [t for t in s.truth if t.kind == kind]))
    if not official:
        return sum((match(spotted, truth) for videos in by_subject.values() for spotted, truth in videos), SpotCounts())
    return sum((subject_counts(videos) for videos in by_subject.values()), SpotCounts())


def choose_thresholds(signals: list[VideoSignal]) -> dict[str, float]:
    """Per type, the grid value of ``p`` with the best pooled F1 of that type on ``signals`` (ties to the lower p), every
    video scored: the official count's blind spots (a subject with nothing spotted, a video with nothing coded) would
    reward a threshold that spots nothing where spotting is hard."""
    chosen = {}
    for kind in KINDS:
        scores = [kind_counts(signals, kind, p, official=False).f1 for p in THRESHOLDS]
        chosen[kind] = float(THRESHOLDS[int(np.argmax(scores))])
    return chosen


def spot_counts(signals: list[VideoSignal], thresholds: dict[str, float], official: bool = True) -> dict[str, SpotCounts]:
    """The counts per type of ``signals`` (one subject's videos, or several subjects') at ``thresholds``."""
    return {kind: kind_counts(signals, kind, thresholds[kind], official) for kind in KINDS}


@dataclass(frozen=True)
class SpotFold:
    """One outer fold: its test subject, the thresholds chosen without it, the inner and test counts,
    and the intervals spotted in each of the test subject's videos."""

    subject: str
    thresholds: dict[str, float]
    inner: dict[str, SpotCounts]
    test: dict[str, SpotCounts]
    spotted: dict[str, list[Spotted]] = field(default_factory=dict)  # test video name -> intervals


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


def evaluate_fold(train: list[VideoSignal], test: list[VideoSignal], subject: str) -> SpotFold:
    """Outer fold of test subject ``subject``: inner leave-one-subject-out over the ``train`` signals,
    then the thresholds chosen on all of them applied to the ``test`` signals."""
    inner = []
    for held in sorted({s.subject for s in train}):
        thresholds = choose_thresholds([s for s in train if s.subject != held])
        inner.append(spot_counts([s for s in train if s.subject == held], thresholds, official=False))
    thresholds = choose_thresholds(train)
    return SpotFold(subject, thresholds, total(inner), total([spot_counts(test, thresholds)]), {s.name: s.found(thresholds) for s in test})


FoldSignals = Callable[[str], tuple[list[VideoSignal], list[VideoSignal]]]


def evaluate_spotter(subjects: list[str], fold_signals: FoldSignals, on_fold: Callable[[int, int], None] | None = None) -> SpotOutcome:
    """Leave-one-subject-out over ``subjects`` (at least three: inner folds need two). ``fold_signals(s)``
    gives the training subjects' and the test subject's signals of the fold that tests ``s``; ``on_fold(done, folds)``
    hears of each finished fold."""
    subjects = sorted(set(subjects))
    if len(subjects) < 3:
        raise ValueError(f"spotting under nested leave-one-subject-out needs at least 3 subjects, not {len(subjects)}")
    folds = []
    for s in subjects:
        folds.append(evaluate_fold(*fold_signals(s), s))
        if on_fold is not None:
            on_fold(len(folds), len(subjects))
    return SpotOutcome(folds)
