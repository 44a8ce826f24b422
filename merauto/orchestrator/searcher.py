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
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
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
from merauto.orchestrator.proposals import MAX_REFUSALS_IN_A_ROW, CostPredictor, Refusal, TrialCostLimit, costliest_options
from merauto.orchestrator.study import (
    COST_CEILINGS,
    COST_LOAD,
    COST_MODEL_ATTR,
    COST_MODELS,
    COST_WORK,
    OBJECTIVE,
    PIPELINE,
    PREDICTED_ATTR,
    set_constraints,
)
from merauto.pipeline.config import PipelineConfig
from merauto.pipeline.objectives import LATENCY_METRIC, CostLimits
from merauto.results.storage import NOT_TRAINED_ATTR, PRESET_ATTR, RETRY_OF_ATTR
from merauto.results.store import ResultsStore, TrialTiming
from merauto.search_space.defaults import MAX_EPOCHS
from merauto.search_space.space import SpaceContext, define_by_run, resolve

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
        trial_limit: TrialCostLimit | None = None,
        deadline: float | None = None,
        predictor: CostPredictor | None = None,
        **kwargs: Any,
    ) -> None:
        """``trial_limit``: ``--max-trial-seconds``; ``deadline``: the end of ``--time-budget``
        (``time.time()`` seconds). With a ``predictor`` both are checked here, before a proposal
        becomes a trial (:mod:`merauto.orchestrator.proposals`); the worker checks them again."""
        super().__init__(*args, **kwargs)
        self.store = store
        self.limits = limits or CostLimits()
        self.pruned = pruned if pruned is not None else set()
        self.presence = presence
        self.trial_limit = trial_limit or TrialCostLimit()
        self.deadline = deadline
        self.predictor = predictor
        self.out_of_time = False  # nothing affordable fits the time left of --time-budget: start no more
        timings = store.timings(self._study_name) if self._study_name else []
        self.cost_models, self.load = calibrations(timings), current_load(timings)
        self.refused: list[tuple[dict[str, Any], float]] = []  # refused proposals' parameters and predicted seconds
        self._limit_of: dict[str, float | None] = {}  # trial id -> the trial limit in force when it was accepted
        self.deferred_presets: list[tuple[dict[str, Any], str]] = []  # presets refused for the time left: queued again at the end
        self.stopped_why: str | None = None  # set when the search stopped because it found nothing it could afford
        self.on_refusal: Callable[[int, Refusal], None] = lambda number, refusal: None
        self.on_accept: Callable[[str, float], None] = lambda trial_id, predicted_s: None

    def ceilings(self) -> dict[str, float]:
        """The limits the worker checks again: ``max_trial_seconds`` (resolved under today's calibration) and ``deadline``."""
        limit = self.trial_limit.seconds_under(self._calibration(), self.load)
        return {k: v for k, v in (("max_trial_seconds", limit), ("deadline", self.deadline)) if v is not None}

    def _calibration(self) -> CostModel:
        return self.predictor.model(self.cost_models) if self.predictor is not None else CostModel("unknown")

    def suggest(self, trial_id: str) -> dict | None:
        if self.out_of_time or (self.deadline is not None and time.time() >= self.deadline):
            return Searcher.FINISHED
        for _ in range(MAX_REFUSALS_IN_A_ROW):
            with warnings.catch_warnings():  # Optuna warns that heartbeats are meant for Study.optimize; merauto beats itself
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                config = super().suggest(trial_id)
            if not isinstance(config, dict):
                return config
            refusal, predicted = self._price(config)
            if refusal is None:
                break
            self._refuse(trial_id, config, refusal)
        else:
            return self._nothing_affordable()
        if self.presence is not None:
            self.presence.track(self._study_name, self._ot_trials[trial_id].number)
        crash_point("sampled")
        config[COST_MODELS] = {kind: model.to_json() for kind, model in self.cost_models.items()}
        config[COST_LOAD] = self.load
        config[COST_CEILINGS] = self.ceilings()
        if self.predictor is not None:  # the worker reuses this count on the same kind of device (memoised: not counted again)
            work = self.predictor.work(PipelineConfig.from_json(config[PIPELINE]))
            config[COST_WORK] = {"kind": self.predictor.kind, **asdict(work)}
        self._limit_of[trial_id] = config[COST_CEILINGS].get("max_trial_seconds")  # its constraint is read against this limit
        if predicted is not None:
            self.on_accept(trial_id, predicted)
        return config

    def _price(self, config: dict[str, Any]) -> tuple[Refusal | None, float | None]:
        """The refusal of a proposal predicted over a limit (``None``: it is trained) and its predicted seconds."""
        if self.predictor is None:
            return None, None
        model = self._calibration()
        predicted = model.predict(self.predictor.work(PipelineConfig.from_json(config[PIPELINE]))) * self.load
        limit = self.trial_limit.seconds_under(model, self.load)
        if limit is not None and predicted > limit:
            return Refusal(predicted, limit, "--max-trial-seconds"), predicted
        if self.deadline is not None and predicted > self.deadline - time.time():
            return Refusal(predicted, max(0.0, self.deadline - time.time()), "--time-budget"), predicted
        return None, predicted

    def _refuse(self, trial_id: str, config: dict[str, Any], refusal: Refusal) -> None:
        """Store and tell a refused proposal: PRUNED and infeasible (its predicted time over the limit,
        as a constraint TPE reads), marked so it does not count against the budget; Tune never sees it."""
        trial = self._ot_trials.pop(trial_id)
        pipeline = PipelineConfig.from_json(config[PIPELINE])
        trial.set_user_attr(NOT_TRAINED_ATTR, refusal.reason)
        trial.set_user_attr(PREDICTED_ATTR, round(refusal.predicted_s, 1))
        trial.set_user_attr("config", pipeline.summary())
        trial.set_constraint("max_trial_seconds", min(refusal.predicted_s / max(refusal.limit_s, 1e-9) - 1.0, 1e12))
        preset = trial.user_attrs.get(PRESET_ATTR)
        self.store.record(
            self._study_name, trial.number, state="pruned", config=pipeline, preset=preset, error=refusal.reason, feasible=False
        )
        self._ot_study.tell(trial, state=TrialState.PRUNED)
        self.refused.append((trial.params, refusal.predicted_s))
        if preset is not None and refusal.limit == "--time-budget":
            self.deferred_presets.append((trial.params, preset))
        self.on_refusal(trial.number, refusal)

    def _nothing_affordable(self) -> str:
        """Stop the search after :data:`MAX_REFUSALS_IN_A_ROW` refusals in a row, saying which options cost most."""
        recent = self.refused[-MAX_REFUSALS_IN_A_ROW:]
        costly = ", ".join(f"{choice} (median {seconds:.0f} s, {n} proposals)" for choice, seconds, n in costliest_options(recent))
        self.stopped_why = (
            f"the last {len(recent)} proposals were all predicted over the trial limit or the time left; "
            f"the costliest choices among them: {costly or 'none stands out'}"
        )
        self.out_of_time = True
        return Searcher.FINISHED

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
        if status == "too_costly":  # predicted over the limit by the worker's own device (the driver's differs)
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
            max_seconds = self._limit_of.get(trial_id)
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
        set_constraints(trial, self.limits, self._limit_of.get(trial_id), result["n_params"], None, result["predicted_s"])
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
            result.get("busy_s"),
        )
        trial.set_user_attr(PREDICTED_ATTR, round(timing.predicted_s, 1))
        if timing.train_s is not None:
            trial.set_user_attr("train_seconds", round(timing.train_s, 1))
        self.store.record_timing(self._study_name, timing)
        if timing.train_s is not None:
            timings = self.store.timings(self._study_name)
            self.cost_models, self.load = calibrations(timings), current_load(timings)
            models = {kind: model.to_json() for kind, model in self.cost_models.items()}
            self._ot_study.set_user_attr(COST_MODEL_ATTR, models)


LOAD_WINDOW = 3  # the latest trained trials whose load says how busy the machine is now


def current_load(timings: list[TrialTiming]) -> float:
    """How much slower than idle the latest trained trials ran (median of their wall over CPU time
    per thread; 1.0 before any): what the calibrated, idle-machine predictions are multiplied by."""
    loads = [t.load for t in sorted(timings, key=lambda t: t.number) if t.load is not None][-LOAD_WINDOW:]
    return float(statistics.median(loads)) if loads else 1.0


def calibrations(timings: list[TrialTiming]) -> dict[str, CostModel]:
    """A cost model per device kind, fitted on the trained trials' timings (a pruned trial's work
    scaled to the folds it trained). On a CPU it is fitted on each trial's CPU seconds per thread
    (its time on an idle machine), so trials that ran while the machine was loaded do not make
    every later prediction slow: the load now is :func:`current_load`, applied to predictions."""
    by_device: dict[str, list[CostObservation]] = {}
    for t in timings:
        if t.train_s is not None and t.work_fraction > 0:
            work = (t.gflop * t.work_fraction, t.mops * t.work_fraction, t.gelements * t.work_fraction)
            seconds = t.busy_s if t.busy_s else t.train_s
            by_device.setdefault(t.device, []).append(CostObservation(*work, seconds))
    return {device: CostModel.fit(device, observations) for device, observations in by_device.items()}
