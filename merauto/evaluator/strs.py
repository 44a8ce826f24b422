"""MEGC's spot-then-recognise score (STRS) as its official script computes it (``strs_metric.py`` of
genbing99/STRS-Metric, commit eb86468): spotting F1 (SF1) times analysis F1 (AF1).

The analysis stage scores the spotting's true positives only, each a (coded emotion, recognised
emotion) pair, over the emotions of the ground truth (every coded row, matched or not). Per
emotion: TP the pairs coded and recognised as it, FP those recognised as it and coded otherwise,
FN those coded as it and recognised otherwise; precision and recall are 0 where their denominator
is. AF1 is the harmonic mean of the macro precision and the macro recall (not the macro F1).

Two of the script's bugs are reproduced and one is not (docs/spotting.md, "The script's quirks"):

- reproduced: where every true positive is coded and recognised as one emotion, sklearn's
  confusion matrix of that emotion is 1 x 1, the script's unpacking of it fails, and it counts
  nothing for that emotion (precision and recall 0 where both are 1);
- reproduced: an emotion of the ground truth that no true positive is coded or recognised as
  still enters both means, at precision and recall 0;
- not reproduced: where the macro precision and the macro recall are both 0 (no true positive
  recognised right), the script's AF1 is 0 / 0, NaN, and so is its STRS; here AF1 is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from merauto.data.long_videos.expression_tables import Expression
from merauto.data.long_videos.folders import Interval
from merauto.evaluator.spotting_metrics import SpotCounts, matched_pairs, subject_counts


@dataclass(frozen=True)
class Analysis:
    """The analysis stage: each emotion's counts as the script takes them, the macro means and AF1."""

    counts: dict[str, SpotCounts]  # emotion -> TP, FP, FN among the spotting's true positives

    @property
    def precision(self) -> float:
        return float(np.mean([c.precision for c in self.counts.values()])) if self.counts else 0.0

    @property
    def recall(self) -> float:
        return float(np.mean([c.recall for c in self.counts.values()])) if self.counts else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of the macro precision and recall; 0 where both are 0 (the script: NaN)."""
        precision, recall = self.precision, self.recall
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _emotion_counts(pairs: Sequence[tuple[str, str]], emotion: str) -> SpotCounts:
    tp = sum(coded == emotion and recognised == emotion for coded, recognised in pairs)
    if tp == len(pairs):  # every pair (emotion, emotion), or none: a 1 x 1 (or empty) confusion matrix, counted as nothing (a bug)
        return SpotCounts()
    fp = sum(coded != emotion and recognised == emotion for coded, recognised in pairs)
    fn = sum(coded == emotion and recognised != emotion for coded, recognised in pairs)
    return SpotCounts(tp, fp, fn)


def analyse(pairs: Sequence[tuple[str, str]], emotions: Iterable[str]) -> Analysis:
    """The analysis stage of the true positives' (coded, recognised) ``pairs`` over ``emotions`` (those of the ground truth)."""
    return Analysis({emotion: _emotion_counts(pairs, emotion) for emotion in sorted(set(emotions))})


@dataclass(frozen=True)
class StrsScore:
    """Both stages of a spotted table against a coded one, and the rows the script leaves unscored."""

    spotting: SpotCounts
    analysis: Analysis
    unscored_truth: int  # coded rows of subjects with nothing spotted: not false negatives
    unscored_spotted: int  # spotted rows in videos with no coded row: not false positives

    @property
    def sf1(self) -> float:
        return self.spotting.f1

    @property
    def af1(self) -> float:
        return self.analysis.f1

    @property
    def strs(self) -> float:
        return self.sf1 * self.af1


def score_tables(truth: Sequence[Expression], spotted: Sequence[Expression]) -> StrsScore:
    """SF1, AF1 and STRS of ``spotted`` against ``truth`` as the script computes them: per video, rows matched
    in table order (:func:`~merauto.evaluator.spotting_metrics.matched_pairs`), subjects and videos left
    out as it leaves them out (:func:`~merauto.evaluator.spotting_metrics.subject_counts`)."""
    rows: dict[tuple[str, str], tuple[list[Expression], list[Expression]]] = {}
    for index, table in enumerate((spotted, truth)):
        for e in table:
            rows.setdefault((e.subject, e.video), ([], []))[index].append(e)
    videos: dict[str, list[tuple[list[Interval], list[Interval]]]] = {}
    pairs: list[tuple[str, str]] = []
    for found, coded in rows.values():
        videos.setdefault((found or coded)[0].subject, []).append(([e.interval for e in found], [e.interval for e in coded]))
        pairs += [(coded[j].emotion, found[i].emotion) for i, j in matched_pairs([e.interval for e in found], [e.interval for e in coded])]
    spotting = sum((subject_counts(v) for v in videos.values()), SpotCounts())
    searched = {e.subject for e in spotted}
    coded_videos = {(e.subject, e.video) for e in truth}
    return StrsScore(
        spotting,
        analyse(pairs, (e.emotion for e in truth)),
        sum(e.subject not in searched for e in truth),
        sum((e.subject, e.video) not in coded_videos for e in spotted),
    )
