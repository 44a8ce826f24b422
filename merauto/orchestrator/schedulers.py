"""Ray Tune schedulers that stop trials after a rung of folds (multi-fidelity, ``--pruning``).

A trial reports after each rung but the last (status ``running``, its rung number, the pooled
inner UF1 of the rung's folds and each fold's inner UF1). Both schedulers remember which
trials they stopped, so the searcher tells Optuna PRUNED for those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from merauto.evaluator.fidelity import Pruning, racing_stops
from merauto.evaluator.nested import TrialOutcome
from merauto.orchestrator.study import FOLD_SCORES, OBJECTIVE, RUNG

RUNG_RESOURCE = "rung_resource"  # ASHA's time attribute: ETA^(rung - 1), so its milestones fall on every rung


def fold_scheduler(pruning: Pruning, rungs: list[list[int]], pruned: set[str], stored: Iterable[TrialOutcome]) -> TrialScheduler:
    """The scheduler of a pruning scheme over a study's fold rungs (racing also reads the ``stored`` trials' outcomes)."""
    if pruning.kind == "race":
        return RacingScheduler(pruned, pruning.alpha, rung_leaders(stored, rungs))
    return RungASHA(pruned, pruning.reduction, len(rungs))


class RungASHA(AsyncHyperBandScheduler):
    """Ray Tune's ASHA with a milestone on every fold rung: stops a trial whose rung score is below
    the top 1/ETA of the scores recorded at that rung so far.

    ASHA places milestones at ETA^k of its time attribute; rung r is reported to it as ETA^(r-1),
    so rungs 1, 2, 3 meet milestones 1, ETA, ETA^2 (reporting the rung number itself left only
    the first rung a milestone).
    """

    def __init__(self, pruned: set[str], reduction: int, n_rungs: int) -> None:
        super().__init__(
            time_attr=RUNG_RESOURCE,  # metric and mode come from the Tuner's TuneConfig
            grace_period=1,
            max_t=reduction ** (n_rungs - 1),
            reduction_factor=reduction,
        )
        self.pruned = pruned
        self.reduction = reduction

    def _scaled(self, result: dict[str, Any]) -> dict[str, Any]:
        if RUNG not in result:
            return result
        return {**result, RUNG_RESOURCE: self.reduction ** (result[RUNG] - 1)}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        decision = super().on_trial_result(tune_controller, trial, self._scaled(result))
        if decision == TrialScheduler.STOP and result.get("status") == "running":
            self.pruned.add(trial.trial_id)
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        super().on_trial_complete(tune_controller, trial, self._scaled(result))


class RacingScheduler(FIFOScheduler):
    """Racing over fold rungs: after each rung, a trial is stopped when its per-fold inner UF1 on the
    rung's folds is significantly below the rung leader's (the trial with the best pooled rung score
    so far), by a one-sided paired t-test at ``alpha`` (:func:`merauto.evaluator.fidelity.racing_stops`).

    Unlike ASHA's quantile, the rule does not depend on how many trials reached the rung first: a
    trial close behind the leader on a few folds goes on until the folds tell them apart.
    """

    def __init__(self, pruned: set[str], alpha: float, leaders: dict[int, tuple[float, list[float]]] | None = None) -> None:
        super().__init__()
        self.pruned = pruned
        self.alpha = alpha
        self.leaders: dict[int, tuple[float, list[float]]] = dict(leaders or {})  # rung -> (pooled score, per-fold scores)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get("status") != "running" or FOLD_SCORES not in result:
            return TrialScheduler.CONTINUE
        rung, score, scores = result[RUNG], result[OBJECTIVE], list(result[FOLD_SCORES])
        leader = self.leaders.get(rung)
        if leader is None or score > leader[0]:
            self.leaders[rung] = (score, scores)
        if leader is not None and racing_stops(scores, leader[1], self.alpha):
            self.pruned.add(trial.trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE


def rung_leaders(outcomes: Iterable[TrialOutcome], rungs: list[list[int]]) -> dict[int, tuple[float, list[float]]]:
    """Racing's leader of each rung among stored trials (a resumed search races against them)."""
    leaders: dict[int, tuple[float, list[float]]] = {}
    for outcome in outcomes:
        done = {f.selection.fold: f for f in outcome.folds}
        for rung, folds in enumerate(rungs[:-1], start=1):
            if not set(folds) <= done.keys():
                break
            on_rung = TrialOutcome(outcome.classes, [done[k] for k in folds])
            score = on_rung.objective()
            if rung not in leaders or score > leaders[rung][0]:
                leaders[rung] = (score, on_rung.fold_inner_uf1())
    return leaders
