"""`merauto search`: validate, open or resume the study, prepare inputs, run trials on Ray Tune."""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import optuna
from filelock import FileLock, Timeout
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, validate_dataset
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError
from merauto.evaluator.nested import EvaluationSettings
from merauto.evaluator.protocol import InnerSpec
from merauto.orchestrator.run_dir import RUN_INFO, RunInfo, check_writable, default_storage_url, load_run
from merauto.orchestrator.study import (
    INTERRUPTED_ATTR,
    OBJECTIVE,
    enqueue_presets,
    finished_trials,
    make_sampler,
    open_storage,
    open_study,
    recover_interrupted,
)
from merauto.results.store import ResultsStore
from merauto.search_space.space import runnable_inputs

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class SearchOptions:
    """Everything `merauto search` was asked to do."""

    dataset: DatasetRequest
    run_dir: Path
    study_name: str
    cache_dir: Path
    budget: int = 20
    storage_url: str | None = None
    timeout_s: float | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    ray_address: str | None = None
    inner: InnerSpec = InnerSpec("holdout", 0.25)
    refit: bool = True
    device: str = "auto"
    seed_presets: bool = False


@dataclass(frozen=True)
class SearchSummary:
    run_dir: Path
    study_name: str
    budget: int
    finished: int
    failed: int
    best_number: int | None
    best_value: float | None
    stopped_early: bool = False  # interrupted (Ctrl-C) or --timeout reached before the budget


def validate(options: SearchOptions) -> None:
    """Refuse bad options before any data is touched."""
    if options.budget < 1:
        raise MerautoError(f"--budget {options.budget}: the budget is a number of trials and must be at least 1", "pass e.g. --budget 20")
    if options.timeout_s is not None and options.timeout_s <= 0:
        raise MerautoError(f"--timeout {options.timeout_s:g}: must be a positive number of seconds", "omit --timeout for no limit")
    if options.cpus_per_trial <= 0:
        raise MerautoError(f"--cpus-per-trial {options.cpus_per_trial:g} must be > 0", "pass e.g. --cpus-per-trial 1")
    if options.gpus_per_trial < 0:
        raise MerautoError(f"--gpus-per-trial {options.gpus_per_trial:g} must be >= 0", "pass 0 on a machine without GPUs")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise MerautoError(f"--max-concurrent {options.max_concurrent} must be >= 1", "omit it to fill the available CPUs")
    if options.device not in DEVICES and not options.device.startswith("cuda:"):
        raise MerautoError(f"--device {options.device!r} is not a device", f"choose one of {', '.join(DEVICES)} or cuda:N")
    if options.device.startswith("cuda") and options.ray_address is None:
        import torch

        if not torch.cuda.is_available():
            raise MerautoError(f"--device {options.device}: this machine has no CUDA device", "use --device auto or cpu")


def _load_dataset(options: SearchOptions, console: Console) -> SampleIndex:
    """The dataset's index after reading every annotation and file; refuses one with errors."""
    with console.status(f"loading dataset {options.dataset.label()} and reading every file once (generated on first use)"):
        loaded = validate_dataset(options.dataset, options.cache_dir)
    index = loaded.require()
    summary = index.summary()
    console.print(f"dataset {index.name}: {summary['samples']} clips, {summary['subjects']} subjects, classes {summary['classes']}")
    if loaded.warnings:
        kinds = Counter(f.kind for f in loaded.warnings)
        console.print(f"dataset warnings: {', '.join(f'{k} {n}' for k, n in kinds.items())} (merauto datasets check lists them)")
    return index


def _prepare_features(builder: FeatureBuilder, console: Console) -> None:
    """Fill the feature cache with the default streams of every input the dataset can feed, before workers start."""
    runnable = runnable_inputs(builder.index.precomputed)
    specs = {spec for kind in INPUTS if kind.name in runnable for spec in kind.streams(kind.resolve({})).values()}
    if builder.index.precomputed is not None:
        for spec in specs:
            builder.stream(spec)
        console.print(f"inputs: {', '.join(runnable)} read precomputed; inputs built from frames are not searched")
        return
    with console.status("preparing inputs (cached by content; a rerun recomputes nothing)"):
        for spec in sorted(specs, key=str):
            builder.stream(spec)
    console.print(f"inputs: {builder.stats.computed} computed, {builder.stats.cached} from cache ({builder.cache.root})")


def _start_ray(address: str | None) -> bool:
    """Start Ray locally (or join ``address``); returns whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    except Exception as exc:
        raise MerautoError(
            f"cannot start or join Ray ({'--ray-address ' + address if address else 'local'}): {exc}",
            "check that the Ray cluster is up (ray status) and the address is right, or omit --ray-address to run locally",
        ) from None
    return True


def _open_run(options: SearchOptions, storage_url: str) -> RunInfo:
    info = RunInfo(options.study_name, storage_url, options.dataset, EvaluationSettings(options.inner, options.refit, options.seed))
    if (options.run_dir / RUN_INFO).exists():
        existing = load_run(options.run_dir)
        if existing.protocol() != info.protocol() or existing.study_name != info.study_name or existing.storage_url != info.storage_url:
            raise MerautoError(
                f"{options.run_dir} holds study {existing.study_name!r} with {existing.protocol()} at {existing.storage_url}; "
                f"this command asks for {info.study_name!r} with {info.protocol()} at {info.storage_url}",
                "rerun with the original options to resume, or choose another --run-dir / --study",
            )
        return existing
    info.save(options.run_dir)
    return info


def run_search(options: SearchOptions, console: Console | None = None) -> SearchSummary:
    """Run (or resume) a search until the study holds ``options.budget`` finished trials."""
    console = console or Console(stderr=True)
    validate(options)
    check_writable(options.run_dir)
    if options.storage_url is not None:
        open_storage(options.storage_url)
    index = _load_dataset(options, console)

    created = not options.run_dir.exists()
    options.run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(options.run_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise MerautoError(f"another merauto search is running in {options.run_dir}", "wait for it, or use another --run-dir") from None
    started_trials = False
    try:
        storage_url = options.storage_url or default_storage_url(options.run_dir)
        info = _open_run(options, storage_url)
        storage = open_storage(storage_url)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = open_study(storage, info, options.seed)
        recovered = recover_interrupted(study, storage)
        if recovered:
            console.print(f"trials {recovered} were interrupted; recorded as failed and queued to run again")
        if options.seed_presets:
            added = enqueue_presets(study, index.precomputed)
            if added:
                console.print(f"presets queued first: {', '.join(added)}")
        done = finished_trials(study)
        remaining = options.budget - done
        if remaining <= 0:
            console.print(f"study {info.study_name!r} already holds {done} finished trials (budget {options.budget}); nothing to run")
            return _summarise(study, options)

        builder = FeatureBuilder(index, FeatureCache(options.cache_dir))
        _prepare_features(builder, console)
        started_trials = True
        _run_tune(options, info, storage, index, builder, remaining, done, console)
        study = optuna.load_study(study_name=info.study_name, storage=storage)
        recover_interrupted(study, storage)  # trials Ray Tune stopped on Ctrl-C run again next time
        return _summarise(study, options)
    except BaseException:
        if created and not started_trials:
            shutil.rmtree(options.run_dir, ignore_errors=True)  # nothing half-written is left behind
        raise
    finally:
        lock.release()


def _run_tune(
    options: SearchOptions,
    info: RunInfo,
    storage: optuna.storages.BaseStorage,
    index: SampleIndex,
    builder: FeatureBuilder,
    remaining: int,
    done: int,
    console: Console,
) -> None:
    """Run ``remaining`` trials on Ray Tune with Optuna as the searcher."""
    import ray
    from ray import tune

    from merauto.orchestrator.progress import SearchProgress
    from merauto.orchestrator.searcher import RecordingOptunaSearch
    from merauto.orchestrator.trainable import WorkerContext, run_trial
    from merauto.search_space.space import define_by_run

    started_ray = _start_ray(options.ray_address)
    try:
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
        concurrent = min(slots, options.max_concurrent or slots, remaining)
        threads = max(1, int(options.cpus_per_trial))
        context = WorkerContext(index, builder.fingerprints, options.cache_dir.resolve(), info.evaluation, options.device, threads)
        sampler = make_sampler(options.seed + done)
        searcher = RecordingOptunaSearch(
            space=partial(define_by_run, precomputed=index.precomputed),
            metric=OBJECTIVE,
            mode="max",
            sampler=sampler,
            study_name=info.study_name,
            storage=storage,
            store=ResultsStore(options.run_dir),
        )
        best = _best_value(optuna.load_study(study_name=info.study_name, storage=storage))
        progress = SearchProgress(options.budget, done, best, console)
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, context=context),
            {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial},
        )
        console.print(
            f"running {remaining} trial(s), {concurrent} at a time, on Ray ({cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs)"
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                metric=OBJECTIVE,
                mode="max",
                num_samples=remaining,
                max_concurrent_trials=concurrent,
                time_budget_s=options.timeout_s,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"tune-{done:05d}",
                storage_path=str((options.run_dir / "ray").resolve()),
                verbose=0,
                callbacks=[progress],
                log_to_file=True,
            ),
        )
        with progress:
            tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()


def _best_value(study: optuna.Study) -> float | None:
    values = [t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.value is not None]
    return max(values) if values else None


def _summarise(study: optuna.Study, options: SearchOptions) -> SearchSummary:
    finished = finished_trials(study)
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    best = max(complete, key=lambda t: t.value) if complete else None
    return SearchSummary(
        run_dir=options.run_dir,
        study_name=study.study_name,
        budget=options.budget,
        finished=finished,
        failed=sum(
            1 for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)) if not t.user_attrs.get(INTERRUPTED_ATTR)
        ),
        best_number=best.number if best else None,
        best_value=best.value if best else None,
        stopped_early=finished < options.budget,
    )
