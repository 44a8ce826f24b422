"""`merauto search`: validate, open or resume the study, prepare inputs, run trials on Ray Tune."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from filelock import FileLock, Timeout
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.errors import MerautoError
from merauto.orchestrator.driver import DriverId, DriverPresence, StaleTrials
from merauto.orchestrator.failures import disk_failure
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.plan import PlannedStudy, plan_studies
from merauto.orchestrator.preflight import CheckedSearch, preflight
from merauto.orchestrator.prepare import space_streams
from merauto.orchestrator.progress import SearchProgress
from merauto.orchestrator.settings_diff import check_resumable
from merauto.orchestrator.study import enqueue_presets, finished_trials, open_study, recover_interrupted
from merauto.orchestrator.tune_runner import TuneRunner
from merauto.results.run_dir import RunInfo, default_storage_url
from merauto.results.storage import RUNGS_ATTR, counted_trials, open_storage
from merauto.results.store import ResultsStore
from merauto.search_space.space import SpaceContext, runnable_inputs


@dataclass(frozen=True)
class SearchSummary:
    """How a search ended: trials finished and failed against the budget, and the best trial so far."""

    run_dir: Path
    study_name: str
    budget: int
    finished: int
    failed: int
    best_number: int | None
    best_value: float | None
    stopped_early: bool = False  # interrupted (Ctrl-C) or --time-budget reached before the budget

    def require_a_trained_trial(self, report: Path) -> None:
        """Refuse a search that reached its budget with every trial failed: nothing was trained, so
        the command must not succeed (``report`` lists each trial's error)."""
        if self.stopped_early or self.failed < self.finished:
            return
        raise MerautoError(
            f"all {self.failed} trial(s) of study {self.study_name!r} failed: no pipeline was trained. Each trial's error is "
            f"printed above and kept in {report} (merauto report {self.run_dir}); Ray's logs are in {self.run_dir / 'ray' / 'logs'}",
            "fix what the errors name, then search again in a new --run-dir (the failed trials used up this run's --budget), "
            "or raise --budget here to try more trials",
        )


def _prepare_features(builder: FeatureBuilder, context: SpaceContext, console: Console) -> None:
    """Fill the feature cache with the default streams of every input the dataset can feed, before workers start."""
    if context.precomputed is not None:
        for kind in runnable_inputs(context):
            for spec in INPUTS.get(kind).streams(INPUTS.get(kind).resolve({})).values():
                builder.stream(spec)
        console.print(f"inputs: {', '.join(runnable_inputs(context))} read precomputed; inputs built from frames are not searched")
        return
    with console.status("preparing inputs (cached by content; a rerun recomputes nothing)"):
        for spec in space_streams("defaults", context):
            builder.stream(spec)
    console.print(f"inputs: {builder.stats.computed} computed, {builder.stats.cached} from cache ({builder.cache.root})")


def _open_run(options: SearchOptions, storage_url: str) -> RunInfo:
    info = options.run_info(storage_url)
    existing = check_resumable(options.run_dir, info)
    if existing is not None:
        return replace(existing, evaluation=info.evaluation)  # how to execute may change between runs; the protocol may not
    info.save(options.run_dir)
    return info


def run_search(options: SearchOptions, console: Console | None = None, checked: CheckedSearch | None = None) -> SearchSummary:
    """Run (or resume) a search until every study holds ``options.budget`` finished trials.

    ``checked`` is what :func:`~merauto.orchestrator.preflight.preflight` returned for ``options``
    (the CLI checks before it imports this module); without it the checks run first.

    Two trials (the first literature presets) of the tiny synthetic dataset, in a fresh folder;
    running it again resumes the study instead of starting over:

    >>> import tempfile
    >>> from merauto.data.datasets import DatasetRequest
    >>> from merauto.data.synthetic.generator import SyntheticSpec
    >>> folder = Path(tempfile.mkdtemp())
    >>> tiny = DatasetRequest("synthetic", SyntheticSpec(size="tiny"))
    >>> options = SearchOptions(tiny, folder / "run", "demo", folder / "cache", budget=2, max_epochs=2, seed_presets=True)
    >>> summary = run_search(options, Console(quiet=True))
    >>> summary.finished, summary.failed, summary.best_number in (0, 1)
    (2, 0, True)
    >>> run_search(options, Console(quiet=True)).finished  # the budget is reached: nothing runs
    2
    """
    console = console or Console(stderr=True)
    checked = checked or preflight(options, console)
    options, index = checked.options, checked.index

    created = not options.run_dir.exists()
    options.run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(options.run_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise MerautoError(f"another merauto search is running in {options.run_dir}", "wait for it, or use another --run-dir") from None
    started_trials = False
    storage_url = options.storage_url or default_storage_url(options.run_dir)
    try:
        info = _open_run(options, storage_url)
        stale = StaleTrials()
        storage = open_storage(storage_url, on_stale=stale)
        store = ResultsStore(options.run_dir)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pretrained = info.evaluation.init_checkpoint is not None or info.evaluation.pretrain_dataset is not None
        context = replace(SpaceContext.of(index), pretrained=pretrained)
        planned = plan_studies(index, info)
        with DriverPresence(storage, DriverId.this_process(options.run_dir)) as presence:
            done = {p.name: _prepare_study(storage, info, p, options, context, console, presence, stale, store) for p in planned}
            todo = [p for p in planned if done[p.name] < options.budget]
            if not todo:
                console.print(f"every study already holds {options.budget} finished trials; nothing to run")
                return _summarise(storage, planned, options)

            builder = FeatureBuilder(index, FeatureCache(options.cache_dir))
            _prepare_features(builder, context, console)
            runner = TuneRunner(options, info, storage, index, builder, context, console, presence)
            best = max((v for v in (_best_value(storage, p.name) for p in planned) if v is not None), default=None)
            with (
                runner,  # starts or joins Ray and checks that a trial fits
                SearchProgress(
                    options.budget * len(planned),
                    sum(min(d, options.budget) for d in done.values()),
                    best,
                    console,
                    runner.slots,
                    options.time_budget_s,
                ) as bar,
            ):
                started_trials = True
                for study in todo:
                    runner.run(study, options.budget - done[study.name], done[study.name], bar)
                    if runner.interrupted:
                        break
            for study in planned:  # trials Ray Tune stopped on Ctrl-C or --time-budget run again next time
                store.forget(study.name, recover_interrupted(optuna.load_study(study_name=study.name, storage=storage), storage))
        return _summarise(storage, planned, options)
    except BaseException as exc:
        if created and not started_trials:
            shutil.rmtree(options.run_dir, ignore_errors=True)  # nothing half-written is left behind
        plain = disk_failure(exc, options.run_dir, storage_url)
        if plain is not None:
            raise plain from None
        raise
    finally:
        lock.release()


def _prepare_study(
    storage: optuna.storages.BaseStorage,
    info: RunInfo,
    planned: PlannedStudy,
    options: SearchOptions,
    context: SpaceContext,
    console: Console,
    presence: DriverPresence,
    stale: StaleTrials,
    store: ResultsStore,
) -> int:
    """Create or resume one study: claim it, recover interrupted trials, enqueue presets; returns its finished trials."""
    study = open_study(storage, replace(info, study_name=planned.name), options.seed)
    gone, orphans = presence.claim(study, stale)
    recovered = sorted(gone + recover_interrupted(study, storage, orphans))
    store.forget(planned.name, recovered)
    if recovered:
        console.print(f"{planned.name}: trials {recovered} were interrupted; recorded as failed and queued to run again")
    if options.seed_presets:
        waiting = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
        room = options.budget - finished_trials(study) - waiting  # presets beyond the budget wait for a larger one
        added = enqueue_presets(study, info.max_epochs, context, limit=max(room, 0))
        if added and not info.strict:
            console.print(f"presets queued first: {', '.join(added)}")
    if study.user_attrs.get(RUNGS_ATTR) != planned.rungs:
        study.set_user_attr(RUNGS_ATTR, planned.rungs)
    return finished_trials(study)


def _best_value(storage: optuna.storages.BaseStorage, name: str) -> float | None:
    study = optuna.load_study(study_name=name, storage=storage)
    values = [t.values[0] for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.values]
    return max(values) if values else None


def _summarise(storage: optuna.storages.BaseStorage, planned: list[PlannedStudy], options: SearchOptions) -> SearchSummary:
    finished = failed = 0
    best_value, best_number = None, None
    for entry in planned:
        study = optuna.load_study(study_name=entry.name, storage=storage)
        finished += min(finished_trials(study), options.budget)
        failed += sum(1 for t in counted_trials(study) if t.state == optuna.trial.TrialState.FAIL)
        complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.values]
        if len(planned) == 1 and complete:
            top = max(complete, key=lambda t: t.values[0])  # UF1, the first objective
            best_value, best_number = top.values[0], top.number
    total = options.budget * len(planned)
    return SearchSummary(options.run_dir, planned[0].name, total, finished, failed, best_number, best_value, stopped_early=finished < total)
