"""MEGC spotting metrics on hand-computed cases: IoU >= 0.5, one-to-one matching, pooled F1."""

from __future__ import annotations

import pytest

from merauto.data.long_videos import Interval
from merauto.evaluator.spotting_metrics import SpotCounts, iou, match, subject_bootstrap_f1


def test_iou_of_inclusive_frame_ranges() -> None:
    assert iou(Interval(0, 9), Interval(0, 9)) == 1.0
    assert iou(Interval(0, 9), Interval(10, 19)) == 0.0  # adjacent, no shared frame
    assert iou(Interval(0, 9), Interval(0, 19)) == 0.5  # 10 shared frames of 20
    assert iou(Interval(0, 9), Interval(5, 14)) == 5 / 15


@pytest.mark.parametrize(
    ("spotted", "truth", "expected"),
    [
        ([Interval(0, 9)], [Interval(20, 29)], SpotCounts(0, 1, 1)),  # no overlap
        ([Interval(0, 9)], [Interval(0, 19)], SpotCounts(1, 0, 0)),  # IoU exactly 0.5 counts
        ([Interval(0, 9)], [Interval(0, 20)], SpotCounts(0, 1, 1)),  # 10/21 just below
        ([Interval(0, 19)], [Interval(0, 9), Interval(10, 19)], SpotCounts(1, 0, 1)),  # one spotted, two truths: one match
        ([Interval(0, 9), Interval(0, 9)], [Interval(0, 9)], SpotCounts(1, 1, 0)),  # a duplicate is a false positive
        ([], [Interval(0, 9)], SpotCounts(0, 0, 1)),
        ([Interval(0, 9)], [], SpotCounts(0, 1, 0)),
    ],
)
def test_one_to_one_matching(spotted: list[Interval], truth: list[Interval], expected: SpotCounts) -> None:
    assert match(spotted, truth) == expected


def test_matching_pairs_as_many_as_it_can() -> None:
    # A fits the second truth best (IoU 0.9) but also the first (8/13); B fits only the second (8/12).
    # Taking the best overlap first would pair A with the second truth and leave one true positive.
    spotted = [Interval(10, 18), Interval(12, 21)]
    truth = [Interval(6, 17), Interval(10, 19)]
    assert iou(spotted[0], truth[1]) == 0.9 and iou(spotted[1], truth[0]) < 0.5
    assert match(spotted, truth) == SpotCounts(2, 0, 0)


def test_counts_pool_into_precision_recall_and_f1() -> None:
    micro = match([Interval(0, 9), Interval(100, 109)], [Interval(200, 209)])
    macro = match([Interval(30, 59, "macro")], [Interval(30, 59, "macro"), Interval(0, 29, "macro")])
    overall = micro + macro
    assert (micro, macro) == (SpotCounts(0, 2, 1), SpotCounts(1, 0, 1))
    assert (overall.tp, overall.fp, overall.fn) == (1, 2, 2)
    assert overall.precision == 1 / 3 and overall.recall == 1 / 3 and overall.f1 == pytest.approx(2 / 6)
    assert SpotCounts().f1 == 0.0
    with pytest.raises(ValueError, match="ends"):
        Interval(5, 4)


def test_the_subject_bootstrap_interval_resamples_whole_subjects() -> None:
    same = {"a": SpotCounts(1, 1, 1), "b": SpotCounts(1, 1, 1)}
    assert subject_bootstrap_f1(same, 200) == (0.5, 0.5)  # every resample pools to F1 0.5
    low, high = subject_bootstrap_f1({"a": SpotCounts(4, 0, 0), "b": SpotCounts(0, 4, 4)}, 500)
    assert low == 0.0 and high == 1.0  # resamples of only a or only b reach both ends
