"""The fold-rung schedulers of ``--pruning``: ASHA meets a milestone on every rung; racing stops a
trial only when the rung's folds show it below the leader; the rule's hand-checked cases."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from ray.tune.schedulers import TrialScheduler

from merauto.evaluator.fidelity import Pruning, racing_stops
from merauto.evaluator.nested import FoldOutcome, FoldSelection, FoldTest, TrialOutcome
from merauto.orchestrator.schedulers import RacingScheduler, RungASHA, fold_scheduler, rung_leaders
from merauto.orchestrator.study import FOLD_SCORES, OBJECTIVE, RUNG

RUNGS = [[0, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7]]


def _result(rung: int, score: float, fold_scores: list[float] | None = None) -> dict:
    return {OBJECTIVE: score, RUNG: rung, "status": "running", FOLD_SCORES: fold_scores or [score, score]}


def _asha_decisions(scheduler: RungASHA, scores: list[list[float]]) -> dict[int, int | None]:
    """Feed each trial's rung scores in turn; the rung (1-based) each trial was stopped at, None if never."""
    stopped: dict[int, int | None] = {}
    for number, rungs in enumerate(scores):
        trial = SimpleNamespace(trial_id=f"t{number}")
        scheduler.on_trial_add(None, trial)
        stopped[number] = None
        for rung, score in enumerate(rungs, start=1):
            if scheduler.on_trial_result(None, trial, _result(rung, score)) == TrialScheduler.STOP:
                stopped[number] = rung
                break
    return stopped


def test_asha_stops_trials_at_the_second_rung_too() -> None:
    scheduler = RungASHA(pruned := set(), reduction=4, n_rungs=3)
    scheduler.set_search_properties(OBJECTIVE, "max")
    # four trials level at rung 1 (each passes: not below the 75th percentile so far); at rung 2 the fourth is worst
    stopped = _asha_decisions(scheduler, [[0.5, 0.6], [0.5, 0.7], [0.5, 0.8], [0.5, 0.4]])
    assert stopped == {0: None, 1: None, 2: None, 3: 2}, "a milestone on rung 2 (reporting rung numbers left only rung 1)"
    assert pruned == {"t3"}


def test_racing_stops_only_a_trial_the_folds_show_behind_the_leader() -> None:
    scheduler = RacingScheduler(pruned := set(), alpha=0.05)
    leader = SimpleNamespace(trial_id="leader")
    close = SimpleNamespace(trial_id="close")
    behind = SimpleNamespace(trial_id="behind")
    assert scheduler.on_trial_result(None, leader, _result(1, 0.80, [0.78, 0.82, 0.80, 0.79])) == TrialScheduler.CONTINUE
    # behind on two folds, ahead on two: not significantly worse
    assert scheduler.on_trial_result(None, close, _result(1, 0.79, [0.74, 0.83, 0.78, 0.80])) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, behind, _result(1, 0.70, [0.69, 0.71, 0.70, 0.68])) == TrialScheduler.STOP
    assert pruned == {"behind"}
    assert scheduler.leaders[1][0] == 0.80
    # a new leader at rung 2 replaces nobody at rung 1; final results are never stopped
    assert scheduler.on_trial_result(None, close, _result(2, 0.81, [0.8, 0.82])) == TrialScheduler.CONTINUE
    final = {OBJECTIVE: 0.1, RUNG: 3, "status": "ok", FOLD_SCORES: [0.1] * 8}
    assert scheduler.on_trial_result(None, behind, final) == TrialScheduler.CONTINUE
    assert set(scheduler.leaders) == {1, 2}


def test_racing_rule_hand_checked_cases() -> None:
    leader = [0.80, 0.70, 0.75, 0.72, 0.78]
    assert not racing_stops(leader, leader, 0.05), "equal: no evidence"
    assert not racing_stops([0.9] * 5, leader, 0.05), "ahead on average: never stopped"
    assert not racing_stops([0.5], [0.9], 0.05), "one fold: no test"
    assert racing_stops([x - 0.05 for x in leader], leader, 0.05), "behind on every fold by the same margin"
    # differences -0.04, -0.06, -0.02, -0.05, -0.03: mean -0.04, sd 0.0158, t = -5.66 on 4 df, one-sided p = 0.0024
    behind = [0.76, 0.64, 0.73, 0.67, 0.75]
    assert racing_stops(behind, leader, 0.01) and not racing_stops(behind, leader, 0.001)
    # one fold far ahead, four behind: differences 0.10, -0.04, -0.03, -0.03, -0.03, mean -0.006, sd 0.0594,
    # t = -0.226 on 4 df, one-sided p = 0.416
    mixed = [0.90, 0.66, 0.72, 0.69, 0.75]
    assert not racing_stops(mixed, leader, 0.4) and racing_stops(mixed, leader, 0.45)


def _outcome(fold_scores: dict[int, float]) -> TrialOutcome:
    """Folds whose inner predictions are right on a share of nine rows equal to the fold's score."""
    folds = []
    for fold, score in fold_scores.items():
        true = [0, 1, 2] * 3
        right = round(score * 9)
        pred = true[:right] + [(t + 1) % 3 for t in true[right:]]
        selection = FoldSelection(fold, f"s{fold}", [score], 1, [], true, pred, score, score, [])
        folds.append(FoldOutcome(selection, FoldTest(fold, f"s{fold}", [], [], [], [], [], []), 0.0))
    return TrialOutcome(("a", "b", "c"), folds)


def test_a_resumed_race_starts_from_the_stored_leaders() -> None:
    strong_early = _outcome({0: 1.0, 2: 1.0})  # stopped after rung 1
    complete = _outcome(dict.fromkeys(range(8), 7 / 9))
    leaders = rung_leaders([strong_early, complete], RUNGS)
    assert leaders[1] == (1.0, [1.0, 1.0]), "rung 1's leader is the trial best on rung 1's folds, stopped or not"
    assert leaders[2][1] == [7 / 9] * 4 and set(leaders) == {1, 2}
    scheduler = fold_scheduler(Pruning("race", alpha=0.05), RUNGS, set(), [strong_early, complete])
    assert isinstance(scheduler, RacingScheduler) and scheduler.leaders == leaders
    assert isinstance(fold_scheduler(Pruning("asha", 4), RUNGS, set(), []), RungASHA)
    assert np.isclose(leaders[2][0], complete.objective())
