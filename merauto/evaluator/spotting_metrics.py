"""Spotting metrics as MEGC's official STRS script computes them (``strs_metric.py`` of the public
repository genbing99/STRS-Metric, commit eb86468; docs/spotting.md).

Matching, one video at a time: the spotted intervals are taken in order (a prediction file's row
order; merauto's spotters list them by onset), and each is paired with every ground truth, in
order, that no earlier spotted interval took and that it overlaps at IoU >= 0.5 (intervals are
inclusive frame ranges). A spotted interval paired with none is a false positive; a ground truth
left unpaired is a false negative. Counts add over videos and subjects; F1 = 2PR / (P + R).

The script's quirks, reproduced here, three of which are bugs:

- greedy in prediction order: an earlier spotted interval may take the ground truth a later one
  needed, which is then a false positive where a maximum matching would have paired it;
- a spotted interval at IoU >= 0.5 with two ground truths (possible only at IoU exactly 0.5 when
  they do not overlap) is paired with both: two true positives from one interval (a bug);
- a subject with no spotted interval is not scored: its ground truths are not false negatives
  (a bug: spotting nothing in a subject costs nothing);
- a video without ground truth is not scored: what is spotted in it is not a false positive (a bug).

merauto scores each expression type (micro, macro) as the script scores a set of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from merauto.data.long_videos.folders import Interval

IOU_THRESHOLD = 0.5


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two inclusive frame ranges."""
    overlap = min(a.end, b.end) - max(a.start, b.start) + 1
    if overlap <= 0:
        return 0.0
    return overlap / (a.length + b.length - overlap)


@dataclass(frozen=True)
class SpotCounts:
    """True positives, false positives and false negatives, with the scores the script takes from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: SpotCounts) -> SpotCounts:
        return SpotCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2PR / (P + R); 0 when both are 0 (nothing found, or nothing spotted and nothing to find)."""
        precision, recall = self.precision, self.recall
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def matched_pairs(spotted: Sequence[Interval], truth: Sequence[Interval], threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """The script's matching of one video: each spotted interval in order paired with every ground truth,
    in order, still free at IoU >= ``threshold``; as (index in ``spotted``, index in ``truth``) pairs."""
    taken: set[int] = set()
    pairs = []
    for i, s in enumerate(spotted):
        for j, t in enumerate(truth):
            if j not in taken and iou(s, t) >= threshold:  # no break: one spotted interval may take several (a bug)
                taken.add(j)
                pairs.append((i, j))
    return pairs


def match(spotted: Iterable[Interval], truth: Iterable[Interval], threshold: float = IOU_THRESHOLD) -> SpotCounts:
    """Counts of one video's matching (:func:`matched_pairs`): pairs, spotted intervals in none, ground truths in none."""
    spotted, truth = list(spotted), list(truth)
    pairs = matched_pairs(spotted, truth, threshold)
    return SpotCounts(len(pairs), len(spotted) - len({i for i, _ in pairs}), len(truth) - len(pairs))


def subject_counts(videos: Iterable[tuple[Sequence[Interval], Sequence[Interval]]], threshold: float = IOU_THRESHOLD) -> SpotCounts:
    """One subject's counts over its videos' (spotted, truth) as the script counts them: nothing when
    nothing was spotted in any of them, and a video without ground truth left out."""
    videos = list(videos)
    if not any(spotted for spotted, _ in videos):
        return SpotCounts()  # the script scores the subjects of the prediction file only (a bug)
    # and the videos of the truth file only (a bug)
    return sum((match(spotted, truth, threshold) for spotted, truth in videos if truth), SpotCounts())


def subject_bootstrap_f1(by_subject: dict[str, SpotCounts], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the pooled F1 when whole subjects are resampled with replacement."""
    counts = list(by_subject.values())
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        picked = rng.integers(0, len(counts), len(counts))
        values.append(sum((counts[i] for i in picked), SpotCounts()).f1)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
