"""Ensemble selection over a search's trials: Caruana's rule on hand-made cases, per-fold members
chosen from that fold's inner validation only, and test predictions averaged, never retrained."""

from __future__ import annotations

from collections import Counter

import numpy as np

from merauto.evaluator.nested import FoldOutcome, FoldSelection, FoldTest, TrialOutcome
from merauto.results.ensemble import ensemble_rows, global_ensemble, greedy_selection, per_fold_ensemble
from merauto.results.store import StoredTrial
from merauto.search_space.presets import PRESETS

CLASSES = ("negative", "positive", "surprise")
TRUE = np.array([0, 1, 2, 0, 1, 2])


def _probs(right: list[bool], confidence: float | list[float] = 0.6) -> np.ndarray:
    """Rows of TRUE predicted right (the true class at ``confidence``) or wrong (the next class at it);
    the other two classes share the rest."""
    confidences = confidence if isinstance(confidence, list) else [confidence] * len(TRUE)
    probs = np.empty((len(TRUE), 3))
    for row, (label, ok, c) in enumerate(zip(TRUE, right, confidences, strict=True)):
        probs[row] = (1 - c) / 2
        probs[row, label if ok else (label + 1) % 3] = c
    return probs


def test_forward_selection_adds_members_while_the_average_improves() -> None:
    # each right on four rows, confident there and barely wrong elsewhere: their average is right everywhere
    d = _probs([True, True, True, True, False, False], [0.9, 0.9, 0.9, 0.9, 0.4, 0.4])
    e = _probs([False, False, True, True, True, True], [0.4, 0.4, 0.9, 0.9, 0.9, 0.9])
    assert greedy_selection([d, e], TRUE, 3, size=3) == Counter({0: 1, 1: 1}), "d (ties go to the earlier), then e; a third adds nothing"


def test_forward_selection_keeps_the_best_prefix() -> None:
    d = _probs([True, True, True, False, False, False], 0.7)
    e = _probs([False, False, False, True, True, True], 0.8)
    f = _probs([True, True, True, True, True, False], 0.5)
    # f alone is right on 5 rows; f+d and f+e on 3 (the other's confident errors win), so f is picked again and again,
    # and the one-pick prefix is kept
    assert greedy_selection([d, e, f], TRUE, 3, size=4) == Counter({2: 1})
    # e and d tie alone, and their average gives e's answers: e (the earlier) alone
    assert greedy_selection([e, d], TRUE, 3, size=2) == Counter({0: 1})


def _trial(number: int, inner: dict[int, np.ndarray], test: dict[int, np.ndarray]) -> StoredTrial:
    """A complete trial with the given inner-validation and test probabilities per fold."""
    folds = []
    for fold in sorted(inner):
        pred = inner[fold].argmax(1)
        right = float((pred == TRUE).mean())
        ids = [f"i{k}" for k in range(6)]
        selection = FoldSelection(fold, f"s{fold}", [right], 1, ids, TRUE.tolist(), pred.tolist(), right, right, [], inner[fold].tolist())
        tests = FoldTest(
            fold,
            f"s{fold}",
            [f"t{fold}a", f"t{fold}b"],
            [f"s{fold}"] * 2,
            ["casme2", "samm"],
            [fold % 3, (fold + 1) % 3],
            test[fold].argmax(1).tolist(),
            test[fold].tolist(),
        )
        folds.append(FoldOutcome(selection, tests, 0.0))
    outcome = TrialOutcome(CLASSES, folds)
    return StoredTrial(number, "complete", None, PRESETS["ststnet"], outcome.objective(), 1, 1.0, None, outcome)


def test_per_fold_members_come_from_that_folds_inner_validation_and_test_probabilities_are_averaged() -> None:
    good, bad = _probs([True] * 6), _probs([False] * 6)
    test_one = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    test_two = np.array([[0.1, 0.2, 0.7], [0.2, 0.7, 0.1]])
    # trial 0 is right on fold 0's inner validation only, trial 1 on folds 1 and 2 only
    trials = [
        _trial(0, {0: good, 1: bad, 2: bad}, dict.fromkeys(range(3), test_one)),
        _trial(1, {0: bad, 1: good, 2: good}, dict.fromkeys(range(3), test_two)),
    ]
    result = per_fold_ensemble(trials, size=3, n_resamples=100)
    assert result.members == {0: {0: 1}, 1: {1: 1}, 2: {1: 1}}
    assert result.estimate.y_pred.tolist() == [0, 2, 2, 1, 2, 1], "each fold's test rows predicted by its own members"
    assert result.single.name == "per-fold selection" and result.single.y_pred.tolist() == result.estimate.y_pred.tolist()
    assert result.difference["uf1"] == (0.0, 0.0)
    # pooled over the folds trial 1 is right on 12 of 18 inner rows, trial 0 on 6, and adding trial 0 changes no answer
    overall = global_ensemble(trials, size=3, n_resamples=100)
    assert overall.members == dict.fromkeys(range(3), {1: 1}) and overall.single.name == "global selection"
    rows = ensemble_rows([result, overall])
    assert [r["ensemble"] for r in rows] == ["per-fold ensemble", "global ensemble"] and rows[1]["members"] == "trial 1×1"


def test_a_fold_averages_several_members_weighted_by_their_picks() -> None:
    d = _probs([True, True, True, True, False, False], [0.9, 0.9, 0.9, 0.9, 0.4, 0.4])
    e = _probs([False, False, True, True, True, True], [0.4, 0.4, 0.9, 0.9, 0.9, 0.9])
    test_d = np.array([[0.6, 0.4, 0.0], [0.0, 0.6, 0.4]])
    test_e = np.array([[0.0, 0.7, 0.3], [0.0, 0.3, 0.7]])
    trials = [_trial(3, {0: d, 1: d}, {0: test_d, 1: test_d}), _trial(5, {0: e, 1: e}, {0: test_e, 1: test_e})]
    result = per_fold_ensemble(trials, size=3, n_resamples=100)
    assert result.members == {0: {3: 1, 5: 1}, 1: {3: 1, 5: 1}}
    # averaged test probabilities: [0.3, 0.55, 0.15] -> 1 and [0.0, 0.45, 0.55] -> 2, in each fold
    assert result.estimate.y_pred.tolist() == [1, 2, 1, 2]
    assert result.estimate.fold_members == result.members and result.mean_size() == 2.0
