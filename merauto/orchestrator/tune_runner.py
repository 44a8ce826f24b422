"""Running a study's trials on Ray Tune, with Optuna as the searcher and ASHA over fold rungs."""

from __future__ import annotations

import logging
import os
import time
from functools import partial

import optuna
import ray
from ray import tune
from rich.console import Console

from merauto.data.features import FeatureBuilder
from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError
from merauto.evaluator.fidelity import MIN_RUNG_FOLDS, parse_pruning
from merauto.evaluator.limits import TrialLimits, trial_share
from merauto.orchestrator.driver import DriverPresence
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.plan import PlannedStudy
from merauto.orchestrator.progress import SearchProgress
from merauto.orchestrator.proposals import CostPredictor, TrialCostLimit
from merauto.orchestrator.ray_session import open_ray
from merauto.orchestrator.schedulers import fold_scheduler
from merauto.orchestrator.searcher import RecordingOptunaSearch, config_or_none, tune_space
from merauto.orchestrator.study import OBJECTIVE, directions, fail_running, finished_trials, make_sampler, metrics
from merauto.orchestrator.trainable import WorkerContext, run_trial
from merauto.orchestrator.warm_start import WARM_START_ATTR, warm_start_trials
from merauto.results.run_dir import RunInfo
from merauto.results.storage import PRESET_ATTR
from merauto.results.store import ResultsStore
from merauto.search_space.space import SpaceContext, runnable_inputs

MEMORY_FIX = "lower --max-concurrent (or raise --cpus-per-trial) so fewer trials share the machine's memory"
MEMORY_KILLED = f"Ray's memory monitor killed a worker while this trial ran (the machine ran out of memory); fix: {MEMORY_FIX}"


class TuneRunner:
    """Starts (or joins) Ray once, then runs each planned study's remaining trials."""

    def __init__(
        self,
        options: SearchOptions,
        info: RunInfo,
        storage: optuna.storages.BaseStorage,
        index: SampleIndex,
        builder: FeatureBuilder,
        space: SpaceContext,
        console: Console,
        presence: DriverPresence | None = None,
    ) -> None:
        self.options, self.info, self.storage, self.console = options, info, storage, console
        self.presence = presence
        self.index, self.builder, self.space = index, builder, space
        self.started_at = time.monotonic()
        self.interrupted = False
        self.stopped_why: str | None = None  # the search found nothing it could afford (said to the user)

    def __enter__(self) -> TuneRunner:
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        self.ray_session = open_ray(self.options.ray_address, log_dir=self.options.run_dir / "ray" / "logs")
        try:
            self.slots = self._slots()
        except BaseException:
            self.ray_session.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.ray_session.close()

    def warm_trials(self, study: str) -> list[optuna.trial.FrozenTrial] | None:
        """``--warm-start``'s finished trials for the sampler, recorded on ``study`` for people (optuna-dashboard)."""
        if self.options.warm_start is None:
            return None
        source, trials = warm_start_trials(self.options.warm_start)
        optuna.load_study(study_name=study, storage=self.storage).set_user_attr(
            WARM_START_ATTR, {"run": str(self.options.warm_start.resolve()), "study": source, "trials": len(trials)}
        )
        self.console.print(f"warm start: the sampler learns from {len(trials)} finished trials of {self.options.warm_start} ({source})")
        return trials

    def _slots(self) -> int:
        options = self.options
        cluster = ray.cluster_resources()
        slots = int(cluster.get("CPU", 1) // options.cpus_per_trial)
        if options.gpus_per_trial > 0:
            slots = min(slots, int(cluster.get("GPU", 0) // options.gpus_per_trial))
        if slots < 1:
            raise MerautoError(
                f"the Ray cluster ({cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs) cannot fit one trial "
                f"of {options.cpus_per_trial:g} CPUs and {options.gpus_per_trial:g} GPUs",
                "lower --cpus-per-trial / --gpus-per-trial",
            )
        slots = min(slots, options.max_concurrent or slots)
        limit = " (--max-concurrent)" if options.max_concurrent is not None and options.max_concurrent <= slots else ""
        self.console.print(f"Ray: {cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs; up to {slots} trial(s) at a time{limit}")
        return slots

    def run(self, study: PlannedStudy, remaining: int, done: int, progress: SearchProgress) -> None:
        """Run ``remaining`` trials of ``study``; sets ``interrupted`` if it stopped short."""
        options = self.options
        time_left = None
        if options.time_budget_s is not None:
            time_left = options.time_budget_s - (time.monotonic() - self.started_at)
            if time_left <= 0:
                self.interrupted = True
                return
        context = WorkerContext(
            self.index,
            self.builder.fingerprints,
            options.cache_dir.resolve(),
            self.info.evaluation,
            study.rungs,
            options.device,
            max(1, int(options.cpus_per_trial)),
            TrialLimits(
                trial_share(self.slots) if options.ray_address is None else None,  # a cluster's nodes differ: Ray's monitor
                options.trial_timeout_s,
            ),
            self.info.measures_latency,
        )
        pruned: set[str] = set()
        predictor = CostPredictor(
            self.index, options.cache_dir.resolve(), self.builder.fingerprints, self.info.evaluation, options.device, context.threads
        )
        trial_limit = self._trial_limit(predictor)
        searcher = RecordingOptunaSearch(
            space=partial(tune_space, context=self.space, max_epochs=self.info.max_epochs),
            metric=OBJECTIVE if len(self.info.objectives) == 1 else metrics(self.info.objectives),
            mode="max"
            if len(self.info.objectives) == 1
            else ["max" if d == "maximize" else "min" for d in directions(self.info.objectives)],
            sampler=make_sampler(options.seed + done, options.startup_trials, self.warm_trials(study.name), options.sampler),
            study_name=study.name,
            storage=self.storage,
            store=ResultsStore(options.run_dir),
            pruned=pruned,
            presence=self.presence,
            limits=self.info.limits,
            trial_limit=trial_limit,
            deadline=None if time_left is None else time.time() + time_left,
            predictor=predictor,
        )
        self.console.print(trial_limit.describe(predictor.model(searcher.cost_models), searcher.load))
        progress.number_of = searcher.number_of
        searcher.on_refusal, searcher.on_accept = progress.refused, progress.predicted
        pruning = parse_pruning(self.info.pruning)
        scheduler = None
        if pruning is not None and len(study.rungs) > 1:
            stored = [t.outcome for t in searcher.store.trials(study.name) if t.outcome is not None]
            scheduler = fold_scheduler(pruning, study.rungs, pruned, stored)
            rule = f"racing at alpha {pruning.alpha:g}" if pruning.kind == "race" else f"ASHA reduction factor {pruning.reduction}"
            self.console.print(f"multi-fidelity: rungs of {[len(r) for r in study.rungs]} folds, {rule}")
        elif pruning is not None:
            self.console.print(
                f"multi-fidelity off: {len(study.rungs[0])} folds are too few for a first rung of {MIN_RUNG_FOLDS}+ folds "
                f"at reduction factor {pruning.reduction}; every trial runs all folds"
            )
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, context=context), {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                metric=OBJECTIVE,
                mode="max",
                num_samples=remaining,
                max_concurrent_trials=min(self.slots, remaining),
                time_budget_s=time_left,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"{study.name}-{done:05d}",
                storage_path=str((options.run_dir / "ray").resolve()),
                verbose=0,
                callbacks=[progress],
                log_to_file=True,
            ),
        )
        controller_log = logging.getLogger("ray.tune.execution.tune_controller")
        controller_log.addFilter(_SAID_BY_MERAUTO)
        try:
            tuner.fit()
        except Exception as exc:
            cause = merauto_cause(exc)
            if cause is not None:  # e.g. the results store could not be written: the search stops, said plainly
                raise cause from None
            if not killed_for_memory(exc):  # Ray Tune stops altogether when Ray's memory monitor kills a worker
                raise
            finished = self._fail_killed(study)
            if finished < done + remaining:
                self.run(study, done + remaining - finished, finished, progress)
            return
        optuna_study = optuna.load_study(study_name=study.name, storage=self.storage)
        for params, preset in searcher.deferred_presets:  # a preset that did not fit the time left runs on resume
            optuna_study.enqueue_trial(params, user_attrs={PRESET_ATTR: preset})
        finished = finished_trials(optuna_study)
        self.interrupted = finished < done + remaining
        if searcher.stopped_why is not None:
            self.stopped_why = searcher.stopped_why
            self.console.print(
                f"[bold]stopped early[/]: {searcher.stopped_why}. Fix: raise --max-trial-seconds (or pass none), lower --max-epochs, "
                "or give --time-budget more time"
            )

    def _trial_limit(self, predictor: CostPredictor) -> TrialCostLimit:
        """``--max-trial-seconds`` as given, or (auto) relative to the reference preset's predicted time."""
        options = self.options
        if options.max_trial_seconds is not None or options.relative_trial_limit is None:
            return TrialCostLimit(seconds=options.max_trial_seconds)
        reference = predictor.reference(self.info.max_epochs, runnable_inputs(self.space))
        if reference is None:
            return TrialCostLimit()
        name, work = reference
        return TrialCostLimit(relative=options.relative_trial_limit, reference=work, reference_name=name)

    def _fail_killed(self, study: PlannedStudy) -> int:
        """Record the trials a memory kill stopped as failed (the search goes on); returns the finished count."""
        optuna_study = optuna.load_study(study_name=study.name, storage=self.storage)
        failed = fail_running(optuna_study, self.storage, MEMORY_KILLED)
        if not failed:
            raise MerautoError(f"Ray's memory monitor killed a worker of study {study.name!r} before any trial started", MEMORY_FIX)
        store = ResultsStore(self.options.run_dir)
        for trial in failed:
            config, preset = config_or_none(trial.params), trial.user_attrs.get(PRESET_ATTR)
            store.record(study.name, trial.number, state="failed", config=config, preset=preset, error=MEMORY_KILLED)
        self.console.print(f"trial(s) {', '.join(str(t.number) for t in failed)} failed: {MEMORY_KILLED}; the search goes on")
        return finished_trials(optuna_study)


class _SaidByMerauto(logging.Filter):
    """Drops Ray Tune's log of a :class:`MerautoError` raised in merauto's searcher (Tune logs
    the traceback, then raises it; merauto prints the error and its fix itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return merauto_cause(record.exc_info[1] if record.exc_info else None) is None


_SAID_BY_MERAUTO = _SaidByMerauto()


def merauto_cause(exc: BaseException | None) -> MerautoError | None:
    """The :class:`MerautoError` (raised by merauto's searcher inside Ray Tune) that caused ``exc``, if any."""
    while exc is not None:
        if isinstance(exc, MerautoError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def killed_for_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` was caused by Ray's memory monitor killing a worker."""
    while exc is not None:
        if isinstance(exc, ray.exceptions.OutOfMemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
