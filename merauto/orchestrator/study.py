"""The Optuna study: creation or resumption, presets, stale trials, and the budget.

The study in its storage is the source of truth (Ray Tune's restore has lost searcher state
before, ray-project/ray#30861): a rerun counts the study's finished trials, fails the trials
a killed run left RUNNING (see :mod:`merauto.orchestrator.driver` for how it knows), queues
their parameters to run again, and runs only the remaining budget.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from merauto.orchestrator.local_sampler import LocalSearchSampler
from merauto.orchestrator.settings_diff import refuse_other_settings
from merauto.pipeline.objectives import OBJECTIVES, CostLimits
from merauto.results.run_dir import RunInfo
from merauto.results.storage import INTERRUPTED_ATTR, PRESET_ATTR, PROTOCOL_ATTR, RETRY_OF_ATTR, counted_trials
from merauto.search_space.defaults import MAX_EPOCHS, STARTUP_TRIALS
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import SpaceContext, runnable_inputs

OBJECTIVE = "inner_uf1"  # the metric Ray Tune and Optuna see: pooled inner-validation UF1
RUNG = "rung"  # multi-fidelity: how many fold rungs are done (1, 2, ...)
FOLD_SCORES = "fold_inner_uf1"  # multi-fidelity: each done fold's inner UF1, in fold order (racing pairs trials on them)
PIPELINE = "pipeline_json"  # the sampled PipelineConfig as JSON, in a trial's Tune config and its final result
COST_MODELS = "cost_models"  # in a trial's Tune config: the calibrated cost model of each device kind, as JSON
COST_LOAD = "cost_load"  # in a trial's Tune config: how much slower than idle this machine trains now (TrialTiming.load)
COST_CEILINGS = "cost_ceilings"  # in a trial's Tune config: max_trial_seconds, deadline (--time-budget, epoch seconds)
COST_WORK = "cost_work"  # in a trial's Tune config: the work the driver counted when it priced the trial, and for which device kind
COST_MODEL_ATTR = "cost_model"  # study user attribute: the calibrations, for people (optuna-dashboard)
PREDICTED_ATTR = "predicted_seconds"  # trial user attribute: the cost model's prediction of its training time


def set_constraints(
    trial: optuna.Trial,
    limits: CostLimits,
    max_trial_seconds: float | None,
    n_params: int | None,
    latency_ms: float | None,
    predicted_s: float | None,
) -> None:
    """Record a finished trial's constraint values before it is told (``Trial.set_constraint``;
    feasible when every one is <= 0): ``--max-params``, ``--max-latency-ms`` and
    ``--max-trial-seconds`` (the predicted training time over the limit, relative). TPE ranks
    infeasible trials below every feasible one, the further over the lower, so a pipeline not
    trained because it was predicted too slow teaches the sampler where the costly region is.
    An infinite violation (a cost not measured) is recorded as a large finite one (storage is JSON)."""
    values = limits.violations(n_params, latency_ms)
    if max_trial_seconds is not None and predicted_s is not None:
        values["max_trial_seconds"] = predicted_s / max_trial_seconds - 1.0
    for name, value in values.items():
        trial.set_constraint(name, min(value, 1e12))


class _TrialsReadOnce:
    """A study whose ``_get_trials`` answers each query once (for the duration of one sampling step)."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._answers: dict[tuple, list[FrozenTrial]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        key = (deepcopy, None if states is None else tuple(states), use_cache)
        if key not in self._answers:
            self._answers[key] = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return self._answers[key]


class _WithWarmTrials:
    """A study whose ``_get_trials`` also answers with another study's finished trials (a warm start)."""

    def __init__(self, study: optuna.Study, warm: list[FrozenTrial]) -> None:
        self._study = study
        self._warm = warm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        own = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return own + [t for t in self._warm if states is None or t.state in states]


class GroupedTPESampler(optuna.samplers.TPESampler):
    """Optuna's TPE, reading the study's trials once per trial instead of once per group, and
    learning from a previous study's finished trials when given (``warm_trials``).

    With ``group=True`` TPE samples each group of co-occurring parameters on its own (30-50 in
    merauto's conditional space), and with ``constant_liar`` each group reads the trials again
    without Optuna's cache (running trials must be seen): on an RDB storage about seven SQL
    statements and their Python each, 30-50 times per trial. Nothing changes the study between
    the groups of one trial, so one read serves them all; the samples are the same as TPE's
    (tests/test_sampler_speed.py; benchmarks/bench_sampling.py: 2.4-2.7x faster sampling).

    Warm trials are observations only: each group reads those whose distributions for the
    group's parameters equal the study's (another epoch range or option list leaves them out of
    that group), they count towards the random startup, and they are never trials of this study.
    """

    def __init__(self, *args: Any, warm_trials: list[FrozenTrial] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._warm = [copy.copy(t) for t in warm_trials or []]
        for i, t in enumerate(self._warm):
            t.number = -1 - i  # below zero: constant liar leaves out the trial being sampled by its number
            t.user_attrs = {}  # where outer-test scores live for people; TPE reads none, and now cannot

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return super().sample_relative(_TrialsReadOnce(study), trial, search_space)  # type: ignore[arg-type]

    def _sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return super()._sample_relative(self._with_warm(study, search_space), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        warm = self._with_warm(study, {param_name: param_distribution})
        return super().sample_independent(warm, trial, param_name, param_distribution)

    def _with_warm(self, study: optuna.Study, search_space: dict[str, Any]) -> optuna.Study:
        """``study`` answering also with the warm trials whose distributions of ``search_space``'s parameters are the study's."""
        if not self._warm:
            return study
        fits = [t for t in self._warm if all(t.distributions.get(name, d) == d for name, d in search_space.items())]
        return _WithWarmTrials(study, fits)  # type: ignore[return-value]


def make_sampler(
    seed: int, startup_trials: int = STARTUP_TRIALS, warm_trials: list[FrozenTrial] | None = None, sampler: str = "tpe"
) -> optuna.samplers.BaseSampler:
    """Multivariate TPE that groups conditional parameters, with constant liar for parallel trials;
    with several objectives it is Optuna's multi-objective TPE; trials' constraints
    (:func:`set_constraints`) make it prefer feasible ones. It samples at random until the study
    holds ``startup_trials`` trials, enqueued presets and ``warm_trials`` (a previous study's finished
    trials, :func:`warm_start_trials`) included. ``sampler="local"``: half of the trials are instead
    mutations of the best trial so far (:mod:`merauto.orchestrator.local_sampler`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = GroupedTPESampler(
            seed=seed,
            n_startup_trials=startup_trials,
            multivariate=True,
            group=True,
            constant_liar=True,
            warm_trials=warm_trials,
        )
    return LocalSearchSampler(tpe, seed=seed) if sampler == "local" else tpe


def directions(objectives: tuple[str, ...]) -> list[str]:
    """Optuna's direction of each objective."""
    return [OBJECTIVES[name].direction for name in objectives]


def metrics(objectives: tuple[str, ...]) -> list[str]:
    """The trial metric of each objective (Ray Tune's metric names and optuna-dashboard's labels)."""
    return [OBJECTIVES[name].metric for name in objectives]


def open_study(storage: optuna.storages.BaseStorage, info: RunInfo, seed: int) -> optuna.Study:
    """Create the study or load it, refusing to mix trials of a different protocol."""
    sampler = make_sampler(seed)
    study = optuna.create_study(
        storage=storage, study_name=info.study_name, directions=directions(info.objectives), sampler=sampler, load_if_exists=True
    )
    recorded = study.user_attrs.get(PROTOCOL_ATTR)
    if recorded is None:
        with warnings.catch_warnings():  # experimental since Optuna 3.2; optuna-dashboard labels the objectives with it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metrics(info.objectives))
        study.set_user_attr(PROTOCOL_ATTR, info.protocol())
    else:
        refuse_other_settings(f"study {info.study_name!r}", recorded, info.protocol())
    return study


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue ``trial``'s parameters (as many as it had sampled) to run again as a new trial that
    records which one it retries; the interrupted trial then no longer counts against the budget."""
    attrs: dict[str, Any] = {RETRY_OF_ATTR: trial.number}
    if PRESET_ATTR in trial.user_attrs:
        attrs[PRESET_ATTR] = trial.user_attrs[PRESET_ATTR]
    study.enqueue_trial(trial.params, user_attrs=attrs)


def recover_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage, trials: list[FrozenTrial] | None = None) -> list[int]:
    """Fail the running ``trials`` (default: every running trial) and queue them to run again;
    returns their numbers. The caller knows their driver is gone: this process, stopped by Ctrl-C
    or --time-budget, or an earlier driver of the run directory whose lock this one holds."""
    study_id = storage.get_study_id_from_name(study.study_name)
    recovered = []
    for trial in study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)) if trials is None else trials:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile
        requeue(study, trial)
        recovered.append(trial.number)
    return recovered


def fail_running(study: optuna.Study, storage: optuna.storages.BaseStorage, error: str) -> list[optuna.trial.FrozenTrial]:
    """Fail the trials a crash left RUNNING, with ``error`` as their user attribute; unlike
    interrupted trials they count against the budget and are not re-run. Returns them as they were."""
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = study.get_trials(deepcopy=True, states=(TrialState.RUNNING,))
    for trial in failed:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "error", error)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    return failed


def enqueue_presets(
    study: optuna.Study, max_epochs: int = MAX_EPOCHS, context: SpaceContext | None = None, limit: int | None = None
) -> list[str]:
    """Enqueue once per study every literature preset whose input the dataset can feed (the first
    ``limit`` of them, in order, when given), its epochs capped like the space's; returns the names
    newly enqueued."""
    already = {t.user_attrs.get(PRESET_ATTR) for t in study.get_trials(deepcopy=False)}
    runnable = runnable_inputs(context)
    added: list[str] = []
    for name, config in PRESETS.items():
        if limit is not None and len(added) >= limit:
            break
        if name not in already and config.input.name in runnable:
            params = config.to_params()
            params["training.max_epochs"] = min(params["training.max_epochs"], max_epochs)
            study.enqueue_trial(params, user_attrs={PRESET_ATTR: name})
            added.append(name)
    return added


def finished_trials(study: optuna.Study) -> int:
    """How many trials count against the budget (:func:`~merauto.results.storage.counted_trials`)."""
    return len(counted_trials(study))
