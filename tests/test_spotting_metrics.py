"""MEGC spotting metrics on hand-computed cases: IoU >= 0.5, greedy matching in prediction order as the
official STRS script matches (its quirks included), subjects and videos left out as it leaves them, pooled F1."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from merauto.data.long_videos.folders import Interval
from merauto.evaluator.spotting_metrics import SpotCounts, iou, match, matched_pairs, subject_bootstrap_f1, subject_counts


def test_iou_of_inclusive_frame_ranges() -> None:
    assert iou(Interval(0, 9), Interval(0, 9)) == 1.0
    assert iou(Interval(0, 9), Interval(10, 19)) == 0.0  # adjacent, no shared frame
    assert iou(Interval(0, 9), Interval(0, 19)) == 0.5  # 10 shared frames of 20
    assert iou(Interval(0, 9), Interval(5, 14)) == 5 / 15
    assert iou(Interval(-3, 65), Interval(30, 55)) == 26 / 69  # the script's sample predictions start before frame 0


@pytest.mark.parametrize(
    ("spotted", "truth", "expected"),
    [
        ([Interval(0, 9)], [Interval(20, 29)], SpotCounts(0, 1, 1)),  # no overlap
        ([Interval(0, 9)], [Interval(0, 19)], SpotCounts(1, 0, 0)),  # IoU exactly 0.5 counts
        ([Interval(0, 9)], [Interval(0, 20)], SpotCounts(0, 1, 1)),  # 10/21 just below
        ([Interval(0, 19)], [Interval(0, 9), Interval(10, 19)], SpotCounts(2, 0, 0)),  # IoU 0.5 with both: two true positives (a bug)
        (
            [Interval(0, 9), Interval(0, 9)],
            [Interval(0, 9)],
            SpotCounts(1, 1, 0),
        ),  # each ground truth once: a duplicate is a false positive
        ([], [Interval(0, 9)], SpotCounts(0, 0, 1)),
        ([Interval(0, 9)], [], SpotCounts(0, 1, 0)),
    ],
)
def test_one_videos_matching(spotted: list[Interval], truth: list[Interval], expected: SpotCounts) -> None:
    assert match(spotted, truth) == expected


def _maximum_matching(spotted: list[Interval], truth: list[Interval]) -> int:
    """The most one-to-one pairs at IoU >= 0.5 (what merauto counted before it followed MEGC's script)."""
    rows, cols = linear_sum_assignment(np.array([[iou(s, t) >= 0.5 for t in truth] for s in spotted], dtype=float), maximize=True)
    return sum(iou(spotted[r], truth[c]) >= 0.5 for r, c in zip(rows, cols, strict=True))


def test_greedy_prediction_order_matching_differs_from_a_maximum_matching_on_overlapping_intervals() -> None:
    # Two overlapping coded expressions; A overlaps both (IoU 8/12 and 7/13), B only the second (IoU 1).
    truth = [Interval(0, 9), Interval(5, 14)]
    a, b = Interval(2, 11), Interval(5, 14)
    assert iou(a, truth[0]) == 8 / 12 and iou(a, truth[1]) == 7 / 13 and iou(b, truth[0]) == 1 / 3
    assert _maximum_matching([a, b], truth) == 2  # A with the first, B with the second: TP 2, FP 0, F1 1
    assert matched_pairs([a, b], truth) == [(0, 0), (0, 1)]  # A, first in order, takes both; B finds both taken
    assert match([a, b], truth) == SpotCounts(2, 1, 0) and match([a, b], truth).f1 == pytest.approx(0.8)
    assert matched_pairs([b, a], truth) == [(0, 1), (1, 0)]  # in the other order each finds its own
    assert match([b, a], truth) == SpotCounts(2, 0, 0)


def test_a_subject_with_nothing_spotted_and_a_video_without_ground_truth_are_not_scored() -> None:
    coded, uncoded = ([Interval(0, 9)], [Interval(0, 9), Interval(50, 59)]), ([Interval(100, 109)], [])
    assert subject_counts([coded, uncoded]) == SpotCounts(1, 0, 1)  # the spotted interval in the uncoded video is no false positive
    assert subject_counts([([], [Interval(0, 9)]), ([], [])]) == SpotCounts()  # nothing spotted: the subject's miss is no false negative
    assert subject_counts([([], [Interval(0, 9)]), uncoded]) == SpotCounts(0, 0, 1)  # spotted anywhere, the subject is scored


def test_counts_pool_into_precision_recall_and_f1() -> None:
    micro = match([Interval(0, 9), Interval(100, 109)], [Interval(200, 209)])
    macro = match([Interval(30, 59, "macro")], [Interval(30, 59, "macro"), Interval(0, 29, "macro")])
    overall = micro + macro
    assert (micro, macro) == (SpotCounts(0, 2, 1), SpotCounts(1, 0, 1))
    assert (overall.tp, overall.fp, overall.fn) == (1, 2, 2)
    assert overall.precision == 1 / 3 and overall.recall == 1 / 3 and overall.f1 == pytest.approx(2 / 6)
    assert SpotCounts().f1 == 0.0 and SpotCounts(0, 3, 4).f1 == 0.0
    with pytest.raises(ValueError, match="ends"):
        Interval(5, 4)


def test_the_subject_bootstrap_interval_resamples_whole_subjects() -> None:
    same = {"a": SpotCounts(1, 1, 1), "b": SpotCounts(1, 1, 1)}
    assert subject_bootstrap_f1(same, 200) == (0.5, 0.5)  # every resample pools to F1 0.5
    low, high = subject_bootstrap_f1({"a": SpotCounts(4, 0, 0), "b": SpotCounts(0, 4, 4)}, 500)
    assert low == 0.0 and high == 1.0  # resamples of only a or only b reach both ends
