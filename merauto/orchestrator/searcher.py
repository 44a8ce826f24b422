"""Ray Tune's OptunaSearch, recording each finished trial before Optuna is told.

Optuna receives ``inner_uf1`` (intermediate and final) and nothing else; outer-test scores
become trial user attributes (for people, in optuna-dashboard) and results-store rows. With
multi-fidelity, a scheduler stops hopeless trials after a rung of folds; they are told PRUNED and
stored as such, and can never be selected.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from merauto.errors import MerautoError
from merauto.evaluator.cost import CostModel, CostObservation
from merauto.evaluator.nested import TrialOutcome
from merauto.faults import crash_point
from merauto.orchestrator.driver import DriverPresence
from merauto.orchestrator.study import COST_CEILINGS, COST_MODEL_ATTR, COST_MODELS, OBJECTIVE, PIPELINE, PREDICTED_ATTR, set_constraints
from merauto.results.storage import PRESET_ATTR, RETRY_OF_ATTR
from merauto.results.store import ResultsStore, TrialTiming
from merauto.search_space.defaults import MAX_EPOCHS
from merauto.search_space.space import SpaceContext, define_by_run, resolve
from merauto.spec.config import PipelineConfig
from merauto.spec.objectives import LATENCY_METRIC, CostLimits

CRASH_MESSAGE = (
    "the Ray worker running this trial died before reporting (its node was lost or the process was killed; the logs of a "
    "local search are under the run directory's ray/logs, those of a cluster on its nodes)"
)


def dashboard_attributes(
    outcome: TrialOutcome, config: PipelineConfig, n_params: int, seconds: float, latency_ms: float | None = None
) -> dict[str, Any]:
    """What a person compares in optuna-dashboard: inner and outer scores, per source, the costs, the config
    (``n_params`` and ``latency_ms`` are also what the constraints of ``--max-params``/``--max-latency-ms`` read)."""
    inner, test = outcome.inner_scores(), outcome.test_scores()
    attrs: dict[str, Any] = {
        "inner_uar": round(inner["uar"], 4),
        "outer_uf1": round(test["uf1"], 4),
        "outer_uar": round(test["uar"], 4),
        "outer_accuracy": round(test["accuracy"], 4),
        "n_params": n_params,
        "seconds": round(seconds, 1),
        "config": config.summary(),
    }
    if latency_ms is not None:
        attrs[LATENCY_METRIC] = round(latency_ms, 4)
    for source, source_scores in outcome.test_scores_by_source().items():
        attrs[f"outer_uf1_{source}"] = round(source_scores["uf1"], 4)
    return attrs


def tune_space(trial: optuna.Trial, context: SpaceContext | None = None, max_epochs: int = MAX_EPOCHS) -> dict[str, str]:
    """OptunaSearch's define-by-run space: sampling records the flat parameters on ``trial``, and the
    config it built travels to the worker in the trial's Tune config, so no one rebuilds it."""
    return {PIPELINE: define_by_run(trial, context, max_epochs).to_json()}


def config_or_none(params: dict[str, Any]) -> PipelineConfig | None:
    """The config a (possibly half-sampled) failed trial was running, if it can be rebuilt."""
    try:
        return resolve(PipelineConfig.from_params(params))
    except (KeyError, MerautoError):
        return None


class RecordingOptunaSearch(OptunaSearch):
    """OptunaSearch that stores results and user attributes, records failures with their error,
    and keeps each running trial's heartbeat (``presence``) from the moment it is asked.

    A trial's results are stored before Optuna is told, so a crash between the two leaves it
    RUNNING: the next driver runs it again and drops the stored copy. A store that cannot be
    written stops the search with a :class:`MerautoError` (the trial is run again next time).
    """

    def __init__(
        self,
        *args: Any,
        store: ResultsStore,
        pruned: set[str] | None = None,
        presence: DriverPresence | None = None,
        limits: CostLimits | None = None,
        max_trial_seconds: float | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        """``max_trial_seconds``: ``--max-trial-seconds``; ``deadline``: the end of ``--time-budget``
        (``time.time()`` seconds); both are checked by the worker against the cost model's prediction."""
        super().__init__(*args, **kwargs)
        self.store = store
        self.limits = limits or CostLimits()
        self.pruned = pruned if pruned is not None else set()
        self.presence = presence
        self.ceilings = {"max_trial_seconds": max_trial_seconds, "deadline": deadline}
        self.out_of_time = False  # a trial was predicted to overrun --time-budget: start no more
        self.cost_models = calibrations(store.timings(self._study_name)) if self._study_name else {}

    def suggest(self, trial_id: str) -> dict | None:
        deadline = self.ceilings["deadline"]
        if self.out_of_time or (deadline is not None and time.time() >= deadline):
            return Searcher.FINISHED
        with warnings.catch_warnings():  # Optuna warns that heartbeats are meant for Study.optimize; merauto beats itself
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            config = super().suggest(trial_id)
        if self.presence is not None:
            self.presence.track(self._study_name, self._ot_trials[trial_id].number)
        crash_point("sampled")
        if isinstance(config, dict):
            config[COST_MODELS] = {kind: model.to_json() for kind, model in self.cost_models.items()}
            config[COST_CEILINGS] = {k: v for k, v in self.ceilings.items() if v is not None}
        return config

    def number_of(self, trial_id: str) -> int | None:
        """The Optuna trial number of a Ray Tune trial (``None`` before it was asked)."""
        trial = self._ot_trials.get(trial_id)
        return None if trial is None else trial.number

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(OBJECTIVE)
        if result.get("status") in ("running", "ok") and value is not None and math.isfinite(value):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        trial = self._ot_trials[trial_id]
        try:
            # UpdateFinishedTrialError: another driver found this trial's heartbeat stale, failed it and
            # queued it again before its results were stored here; its run there counts.
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                told = self._record_and_tell(trial_id, trial, result, error)
                if told is not None and self._taken_over(trial.number, told):
                    self.store.forget(self._study_name, [trial.number])
        finally:
            if self.presence is not None:
                self.presence.untrack(self._study_name, trial.number)

    def _taken_over(self, number: int, told: TrialState) -> bool:
        """Whether another driver failed trial ``number`` (its heartbeat went stale) and queued it
        again before this one told Optuna (Ray's OptunaSearch logs a failed tell and goes on)."""
        trials = self._ot_study.get_trials(deepcopy=False)
        state = next(t.state for t in trials if t.number == number)
        return state != told or any(t.user_attrs.get(RETRY_OF_ATTR) == number for t in trials)

    def _record_and_tell(self, trial_id: str, trial: optuna.Trial, result: dict[str, Any] | None, error: bool) -> TrialState | None:
        """Store the finished trial, then tell Optuna; returns the state told (``None``: left running)."""
        preset = trial.user_attrs.get(PRESET_ATTR)
        status = (result or {}).get("status")
        if status == "past_budget":
            self.out_of_time = True
            return None  # not started: left RUNNING, failed and queued again when the search ends (resumed by the next)
        if status == "too_costly":
            return self._record_too_costly(trial_id, trial, result)
        if status == "ok" or (status == "running" and trial_id in self.pruned):
            state = "complete" if status == "ok" else "pruned"
            config = PipelineConfig.from_json(result[PIPELINE])
            outcome = TrialOutcome.from_json(json.loads(result["outcome_json"]))
            latency = result.get(LATENCY_METRIC)
            for key, value in dashboard_attributes(outcome, config, result["n_params"], result["seconds"], latency).items():
                trial.set_user_attr(key, value)
            trial.set_user_attr("folds_done", len(outcome.folds))
            trial.set_user_attr("ray_node", result.get("ray_node"))
            self._record_timing(trial, result)
            max_seconds = self.ceilings["max_trial_seconds"]
            set_constraints(trial, self.limits, max_seconds, result["n_params"], latency, result["predicted_s"])
            self.store.record(
                self._study_name,
                trial.number,
                state=state,
                config=config,
                preset=preset,
                outcome=outcome,
                n_params=result["n_params"],
                seconds=result["seconds"],
                latency_ms=latency,
                feasible=self.limits.feasible(result["n_params"], latency),
            )
            crash_point("stored")
            # OptunaSearch tells COMPLETE when given a result and PRUNED when given none.
            super().on_trial_complete(trial_id, result if state == "complete" else None, error=False)
            return TrialState.COMPLETE if state == "complete" else TrialState.PRUNED
        if status == "running" and not error:
            return None  # stopped by an interruption or --time-budget: left RUNNING, re-run by the next search
        message = (result or {}).get("error") or CRASH_MESSAGE
        trial.set_user_attr("error", message[:2000])
        config = config_or_none(trial.params)
        self.store.record(
            self._study_name,
            trial.number,
            state="failed",
            config=config,
            preset=preset,
            error=message,
            seconds=(result or {}).get("seconds"),
        )
        super().on_trial_complete(trial_id, None, error=True)
        return TrialState.FAIL

    def _record_too_costly(self, trial_id: str, trial: optuna.Trial, result: dict[str, Any]) -> TrialState:
        """A trial predicted over ``--max-trial-seconds``: stored as pruned with the reason, told PRUNED
        (its constraint, read from the predicted time, marks it infeasible for the sampler)."""
        config = PipelineConfig.from_json(result[PIPELINE])
        trial.set_user_attr("pruned_reason", result["reason"])
        trial.set_user_attr("n_params", result["n_params"])
        trial.set_user_attr("config", config.summary())
        self._record_timing(trial, result)
        set_constraints(trial, self.limits, self.ceilings["max_trial_seconds"], result["n_params"], None, result["predicted_s"])
        preset = trial.user_attrs.get(PRESET_ATTR)
        self.store.record(
            self._study_name,
            trial.number,
            state="pruned",
            config=config,
            preset=preset,
            n_params=result["n_params"],
            seconds=result["seconds"],
            error=result["reason"],
            feasible=False,
        )
        super().on_trial_complete(trial_id, None, error=False)
        return TrialState.PRUNED

    def _record_timing(self, trial: optuna.Trial, result: dict[str, Any]) -> None:
        """Store the trial's predicted and measured training time, and recalibrate its device's cost model."""
        timing = TrialTiming(
            trial.number,
            result["device_kind"],
            result["predicted_s"],
            result.get("train_s"),
            result["work_gflop"],
            result["work_mops"],
            result["work_gelements"],
            result.get("work_fraction", 1.0),
        )
        trial.set_user_attr(PREDICTED_ATTR, round(timing.predicted_s, 1))
        if timing.train_s is not None:
            trial.set_user_attr("train_seconds", round(timing.train_s, 1))
        self.store.record_timing(self._study_name, timing)
        if timing.train_s is not None:
            self.cost_models = calibrations(self.store.timings(self._study_name))
            models = {kind: model.to_json() for kind, model in self.cost_models.items()}
            self._ot_study.set_user_attr(COST_MODEL_ATTR, models)


def calibrations(timings: list[TrialTiming]) -> dict[str, CostModel]:
    """A cost model per device kind, fitted on the trained trials' timings (a pruned trial's work
    scaled to the folds it trained)."""
    by_device: dict[str, list[CostObservation]] = {}
    for t in timings:
        if t.train_s is not None and t.work_fraction > 0:
            work = (t.gflop * t.work_fraction, t.mops * t.work_fraction, t.gelements * t.work_fraction)
            by_device.setdefault(t.device, []).append(CostObservation(*work, t.train_s))
    return {device: CostModel.fit(device, observations) for device, observations in by_device.items()}
