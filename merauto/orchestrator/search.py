"""`merauto search`: validate, open or resume the study, prepare inputs, run trials on Ray Tune."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, replace
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
from merauto.evaluator.engine import MODES
from merauto.evaluator.fidelity import fold_rungs, parse_pruning
from merauto.evaluator.nested import EvalData, EvaluationSettings, study_folds
from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.orchestrator.prepare import space_streams
from merauto.orchestrator.pretrain import PRETRAIN_DATASETS
from merauto.orchestrator.progress import SearchProgress
from merauto.orchestrator.run_dir import RUN_INFO, RunInfo, check_writable, default_storage_url, fold_study_name, load_run
from merauto.orchestrator.study import (
    INTERRUPTED_ATTR,
    RUNGS_ATTR,
    enqueue_presets,
    finished_trials,
    open_storage,
    open_study,
    recover_interrupted,
)
from merauto.orchestrator.tune_runner import TuneRunner
from merauto.search_space.space import MAX_EPOCHS, SpaceContext, runnable_inputs

DEVICES = ("auto", "cpu", "cuda")


def study_rungs(index: SampleIndex, info: RunInfo) -> list[list[int]]:
    """The study's fold rungs: one rung of every fold without pruning."""
    data = EvalData({}, index.labels, index.subjects, index.sources, index.ids, index.classes)
    folds = study_folds(data, info.evaluation)
    reduction = parse_pruning(info.pruning)
    if reduction is None:
        return [list(range(len(folds)))]
    return fold_rungs(folds, index.sources, info.evaluation.seed, reduction)


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
    trial_timeout_s: float | None = None  # a trial running longer fails
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    ray_address: str | None = None
    inner: InnerSpec = InnerSpec("holdout", 0.25)
    outer: OuterSpec = OuterSpec()
    refit: bool = True
    device: str = "auto"
    fold_batching: str = "auto"
    amp: bool = False
    pruning: str = "none"
    strict: bool = False
    max_epochs: int = MAX_EPOCHS
    seed_presets: bool = False
    init_checkpoint: Path | None = None  # model.pt that strategy=finetune starts from
    pretrain_dataset: str | None = None  # or: the dataset it pre-trains on (PRETRAIN_DATASETS)


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
    if options.trial_timeout_s is not None and options.trial_timeout_s <= 0:
        raise MerautoError(
            f"--trial-timeout {options.trial_timeout_s:g}: must be a positive number of seconds", "omit --trial-timeout for no limit"
        )
    if options.cpus_per_trial <= 0:
        raise MerautoError(f"--cpus-per-trial {options.cpus_per_trial:g} must be > 0", "pass e.g. --cpus-per-trial 1")
    if options.gpus_per_trial < 0:
        raise MerautoError(f"--gpus-per-trial {options.gpus_per_trial:g} must be >= 0", "pass 0 on a machine without GPUs")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise MerautoError(f"--max-concurrent {options.max_concurrent} must be >= 1", "omit it to fill the available CPUs")
    if options.fold_batching not in MODES:
        raise MerautoError(f"--fold-batching {options.fold_batching!r} is not a mode", f"choose one of {', '.join(MODES)}")
    parse_pruning(options.pruning)
    if options.max_epochs < 1:
        raise MerautoError(f"--max-epochs {options.max_epochs} must be >= 1", f"omit it for the default ({MAX_EPOCHS})")
    if options.strict and options.pruning != "none":
        raise MerautoError("--strict scores each fold's study on its own fold: fold rungs do not apply", "drop --pruning with --strict")
    if options.device not in DEVICES and not options.device.startswith("cuda:"):
        raise MerautoError(f"--device {options.device!r} is not a device", f"choose one of {', '.join(DEVICES)} or cuda:N")
    if options.device.startswith("cuda") and options.ray_address is None:
        import torch

        if not torch.cuda.is_available():
            raise MerautoError(f"--device {options.device}: this machine has no CUDA device", "use --device auto or cpu")
    if options.init_checkpoint is not None and not options.init_checkpoint.is_file():
        raise MerautoError(f"--init-checkpoint {options.init_checkpoint}: no such file", "pass the model.pt of a merauto export")
    if options.init_checkpoint is not None and options.pretrain_dataset is not None:
        raise MerautoError("--init-checkpoint and --pretrain-dataset both say where finetune starts from", "pass one of them")
    if options.pretrain_dataset is not None and options.pretrain_dataset not in PRETRAIN_DATASETS:
        raise MerautoError(f"--pretrain-dataset {options.pretrain_dataset!r} is unknown", f"choose one of: {', '.join(PRETRAIN_DATASETS)}")
    if options.amp and options.device == "cpu":
        raise MerautoError("--amp is mixed precision on CUDA: it does nothing with --device cpu", "drop --amp or use --device auto or cuda")


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
    evaluation = EvaluationSettings(
        inner=options.inner,
        refit=options.refit,
        seed=options.seed,
        outer=options.outer,
        fold_batching=options.fold_batching,
        amp=options.amp,
        init_checkpoint=None if options.init_checkpoint is None else str(options.init_checkpoint.resolve()),
        pretrain_dataset=options.pretrain_dataset,
    )
    info = RunInfo(options.study_name, storage_url, options.dataset, evaluation, options.pruning, options.strict, options.max_epochs)
    if (options.run_dir / RUN_INFO).exists():
        existing = load_run(options.run_dir)
        if existing.protocol() != info.protocol() or existing.study_name != info.study_name or existing.storage_url != info.storage_url:
            raise MerautoError(
                f"{options.run_dir} holds study {existing.study_name!r} with {existing.protocol()} at {existing.storage_url}; "
                f"this command asks for {info.study_name!r} with {info.protocol()} at {info.storage_url}",
                "rerun with the original options to resume, or choose another --run-dir / --study",
            )
        return replace(existing, evaluation=evaluation)  # how to execute may change between runs; the protocol may not
    info.save(options.run_dir)
    return info


@dataclass(frozen=True)
class PlannedStudy:
    """One Optuna study of a search and the fold rungs its trials are scored on."""

    name: str
    rungs: list[list[int]]


def plan_studies(index: SampleIndex, info: RunInfo) -> list[PlannedStudy]:
    """One study over every fold; in ``strict`` mode one independent study per outer fold."""
    if not info.strict:
        return [PlannedStudy(info.study_name, study_rungs(index, info))]
    data = EvalData({}, index.labels, index.subjects, index.sources, index.ids, index.classes)
    folds = study_folds(data, info.evaluation)
    return [PlannedStudy(fold_study_name(info.study_name, k), [[k]]) for k in range(len(folds))]


def run_search(options: SearchOptions, console: Console | None = None) -> SearchSummary:
    """Run (or resume) a search until every study holds ``options.budget`` finished trials."""
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
        pretrained = info.evaluation.init_checkpoint is not None or info.evaluation.pretrain_dataset is not None
        context = replace(SpaceContext.of(index), pretrained=pretrained)
        planned = plan_studies(index, info)
        done = {p.name: _prepare_study(storage, info, p, options, context, console) for p in planned}
        todo = [p for p in planned if done[p.name] < options.budget]
        if not todo:
            console.print(f"every study already holds {options.budget} finished trials; nothing to run")
            return _summarise(storage, planned, options)

        builder = FeatureBuilder(index, FeatureCache(options.cache_dir))
        _prepare_features(builder, context, console)
        started_trials = True
        runner = TuneRunner(options, info, storage, index, builder, context, console)
        best = max((v for v in (_best_value(storage, p.name) for p in planned) if v is not None), default=None)
        with (
            runner,
            SearchProgress(options.budget * len(planned), sum(min(d, options.budget) for d in done.values()), best, console) as bar,
        ):
            for study in todo:
                runner.run(study, options.budget - done[study.name], done[study.name], bar)
                if runner.interrupted:
                    break
        for study in planned:  # trials Ray Tune stopped on Ctrl-C or --timeout run again next time
            recover_interrupted(optuna.load_study(study_name=study.name, storage=storage), storage)
        return _summarise(storage, planned, options)
    except BaseException:
        if created and not started_trials:
            shutil.rmtree(options.run_dir, ignore_errors=True)  # nothing half-written is left behind
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
) -> int:
    """Create or resume one study: recover interrupted trials, enqueue presets; returns its finished trials."""
    study = open_study(storage, replace(info, study_name=planned.name), options.seed)
    recovered = recover_interrupted(study, storage)
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
    values = [t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.value is not None]
    return max(values) if values else None


def _summarise(storage: optuna.storages.BaseStorage, planned: list[PlannedStudy], options: SearchOptions) -> SearchSummary:
    finished = failed = 0
    best_value, best_number = None, None
    for entry in planned:
        study = optuna.load_study(study_name=entry.name, storage=storage)
        finished += min(finished_trials(study), options.budget)
        failed += sum(
            1 for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)) if not t.user_attrs.get(INTERRUPTED_ATTR)
        )
        complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if t.value is not None]
        if len(planned) == 1 and complete:
            top = max(complete, key=lambda t: t.value)
            best_value, best_number = top.value, top.number
    total = options.budget * len(planned)
    return SearchSummary(options.run_dir, planned[0].name, total, finished, failed, best_number, best_value, stopped_early=finished < total)
