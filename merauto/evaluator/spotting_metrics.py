"""Spotting metrics as MEGC defines them: intervals matched one-to-one at IoU >= 0.5.

A spotted interval is a true positive when its intersection over union with a ground-truth
interval of the same expression type is at least ``threshold`` (0.5); each ground truth is
matched by at most one spotted interval and each spotted interval matches at most one ground
truth (a duplicate is a false positive, a spotted interval covering two ground truths matches
one of them), and the matching pairs as many as it can. Intervals are inclusive frame ranges. Counts add over videos, subjects and types
before precision, recall and F1 are taken (pooled, as MEGC scores a dataset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from merauto.data.long_videos import Interval

IOU_THRESHOLD = 0.5


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two inclusive frame ranges."""
    overlap = min(a.end, b.end) - max(a.start, b.start) + 1
    if overlap <= 0:
        return 0.0
    return overlap / (a.length + b.length - overlap)


@dataclass(frozen=True)
class SpotCounts:
    """True positives, false positives and false negatives, with the scores they give."""

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
        """2TP / (2TP + FP + FN); 0 when there is nothing to find and nothing spotted."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


def matched_pairs(spotted: Sequence[Interval], truth: Sequence[Interval], threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """One-to-one matching of ``spotted`` to ``truth`` (one type): the most pairs at IoU >= ``threshold``
    (a maximum bipartite matching, scipy's ``linear_sum_assignment``), ties to the larger total IoU;
    as (index in ``spotted``, index in ``truth``) pairs."""
    if not spotted or not truth:
        return []
    overlap = np.array([[iou(s, t) for t in truth] for s in spotted])
    weight = np.where(overlap >= threshold, 1.0 + 1e-6 * overlap, 0.0)  # a pair counts 1; IoU only breaks ties
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if weight[r, c] > 0]


def match(spotted: Iterable[Interval], truth: Iterable[Interval], threshold: float = IOU_THRESHOLD) -> SpotCounts:
    """Counts of the one-to-one matching of ``spotted`` to ``truth`` (:func:`matched_pairs`)."""
    spotted, truth = list(spotted), list(truth)
    tp = len(matched_pairs(spotted, truth, threshold))
    return SpotCounts(tp, len(spotted) - tp, len(truth) - tp)


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
