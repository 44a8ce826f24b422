"""A trial that raises, diverges or outgrows its memory share is recorded as failed with its error; the search goes on."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import optuna
import pytest
import ray
from conftest import TINY
from ray import tune
from rich.console import Console
from sklearn.metrics import f1_score

from merauto.data.cache import FeatureCache
from merauto.data.features import FeatureBuilder
from merauto.data.sample_index import SampleIndex
from merauto.evaluator.limits import TrialLimits, check_limits, trial_share
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.search import run_search
from merauto.orchestrator.searcher import RecordingOptunaSearch, tune_space
from merauto.orchestrator.study import OBJECTIVE, PIPELINE
from merauto.orchestrator.trainable import WorkerContext, evaluate_params
from merauto.orchestrator.tune_runner import MEMORY_KILLED, killed_for_memory
from merauto.pipeline.config import PipelineConfig
from merauto.results.storage import open_storage
from merauto.results.store import ResultsStore
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import resolve

RUNGS = [[0, 3], [0, 1, 2, 3, 4, 5]]  # two rungs over the tiny dataset's six folds


def _tune_config(config: PipelineConfig, **training: object) -> dict:
    """A trial's Tune config as OptunaSearch hands it to the worker: Optuna's flat parameters and the sampled config."""
    config = resolve(replace(config, training=replace(config.training, **training)))
    return config.to_params() | {PIPELINE: config.to_json()}


def _context(index: SampleIndex, cache_dir: Path) -> WorkerContext:
    builder = FeatureBuilder(index, FeatureCache(cache_dir))
    return WorkerContext(index, builder.fingerprints, cache_dir, EvaluationSettings(), RUNGS, "cpu", 1)


def test_diverging_trial_reports_failure_instead_of_raising(tiny_index: SampleIndex, cache_dir: Path) -> None:
    params = _tune_config(PRESETS["ststnet"], lr=1e12, max_epochs=3)
    reports: list[dict] = []
    evaluate_params(params, _context(tiny_index, cache_dir), report=reports.append)
    assert reports[-1]["status"] == "failed"
    assert "TrialDiverged" in reports[-1]["error"] and math.isnan(reports[-1][OBJECTIVE])


def test_trial_over_its_memory_share_fails_itself_and_names_the_fix(tiny_index: SampleIndex, cache_dir: Path) -> None:
    params = _tune_config(PRESETS["ststnet"], max_epochs=2)
    context = replace(_context(tiny_index, cache_dir), limits=TrialLimits(memory_bytes=2**20))  # 1 MiB: any worker holds more
    reports: list[dict] = []
    evaluate_params(params, context, report=reports.append)
    assert reports[-1]["status"] == "failed" and math.isnan(reports[-1][OBJECTIVE])
    assert "TrialOutOfMemory" in reports[-1]["error"] and "--max-concurrent" in reports[-1]["error"]
    check_limits()  # the limits belonged to that trial only


def test_a_trial_past_its_timeout_fails_itself_and_names_the_option(tiny_index: SampleIndex, cache_dir: Path) -> None:
    params = _tune_config(PRESETS["ststnet"], max_epochs=2)
    reports: list[dict] = []
    evaluate_params(params, replace(_context(tiny_index, cache_dir), limits=TrialLimits(seconds=1e-6)), report=reports.append)
    assert reports[-1]["status"] == "failed" and "TrialTimeout" in reports[-1]["error"] and "--trial-timeout" in reports[-1]["error"]


def test_a_trial_within_its_limits_is_unaffected(tiny_index: SampleIndex, cache_dir: Path) -> None:
    params = _tune_config(PRESETS["ststnet"], max_epochs=2)
    reports: list[dict] = []
    evaluate_params(params, replace(_context(tiny_index, cache_dir), limits=TrialLimits(trial_share(2), 3600.0)), report=reports.append)
    assert reports[-1]["status"] == "ok"


def test_searcher_records_failures_and_successes(tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/study.db")
    store = ResultsStore(tmp_path)
    space = partial(tune_space, max_epochs=2)
    searcher = RecordingOptunaSearch(space=space, metric=OBJECTIVE, mode="max", study_name="s", storage=storage, store=store)
    context = _context(tiny_index, cache_dir)

    searcher.suggest("bad")
    searcher.on_trial_complete("bad", {"status": "failed", OBJECTIVE: float("nan"), "error": "ValueError: boom", "seconds": 1.0})

    config = searcher.suggest("good")
    reports: list[dict] = []
    evaluate_params(config, context, report=reports.append)
    for step, report in enumerate(reports, start=1):
        searcher.on_trial_result("good", report | {"training_iteration": step})
    searcher.on_trial_complete("good", reports[-1])

    study = optuna.load_study(study_name="s", storage=storage)
    bad, good = study.trials
    assert bad.state == optuna.trial.TrialState.FAIL and bad.user_attrs["error"] == "ValueError: boom"
    assert good.state == optuna.trial.TrialState.COMPLETE
    (_, stored) = store.trials("s")
    inner_true = [y for f in stored.outcome.folds for y in f.selection.inner_true]
    inner_pred = [y for f in stored.outcome.folds for y in f.selection.inner_pred]
    assert good.value == pytest.approx(f1_score(inner_true, inner_pred, average="macro", labels=[0, 1, 2], zero_division=0), abs=1e-12)
    test_true = [y for f in stored.outcome.folds for y in f.test.y_true]
    test_pred = [y for f in stored.outcome.folds for y in f.test.y_pred]
    assert good.user_attrs["outer_uf1"] == round(f1_score(test_true, test_pred, average="macro", labels=[0, 1, 2], zero_division=0), 4)
    assert {"outer_uf1", "outer_uar", "inner_uar", "config", "outer_uf1_casme2"} <= set(good.user_attrs)
    assert len(good.intermediate_values) == len(RUNGS), "one inner-only value per rung of folds"
    assert good.user_attrs["folds_done"] == 6
    assert [t.state for t in store.trials("s")] == ["failed", "complete"]


def test_trials_stopped_by_the_scheduler_are_pruned_and_stored(tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/study.db")
    store, pruned = ResultsStore(tmp_path), {"stopped"}
    searcher = RecordingOptunaSearch(
        space=partial(tune_space, max_epochs=2), metric=OBJECTIVE, mode="max", study_name="s", storage=storage, store=store, pruned=pruned
    )
    config = searcher.suggest("stopped")
    reports: list[dict] = []
    evaluate_params(config, _context(tiny_index, cache_dir), report=reports.append)
    first_rung = reports[0]
    assert first_rung["status"] == "running" and first_rung["folds_done"] == 2
    searcher.on_trial_result("stopped", first_rung | {"training_iteration": 1})
    searcher.on_trial_complete("stopped", first_rung)
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    (stored,) = store.trials("s")
    assert stored.state == "pruned" and len(stored.outcome.folds) == 2


@pytest.mark.slow
def test_a_worker_killed_for_memory_fails_its_trial_and_the_search_goes_on(
    monkeypatch: pytest.MonkeyPatch, cache_dir: Path, tmp_path: Path
) -> None:
    fit = tune.Tuner.fit
    calls = []

    def fit_killed_once(tuner: tune.Tuner) -> object:
        calls.append(1)
        if len(calls) > 1:
            return fit(tuner)
        study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
        study.ask()  # the trial the killed worker was running
        raise RuntimeError("Caught unexpected exception") from ray.exceptions.OutOfMemoryError("node low on memory")

    monkeypatch.setattr(tune.Tuner, "fit", fit_killed_once)
    options = SearchOptions(TINY, tmp_path / "run", "s", cache_dir, budget=2, max_epochs=2, seed_presets=True)
    summary = run_search(options, Console(quiet=True))
    assert summary.finished == 2 and summary.failed == 1 and len(calls) == 2
    failed, complete = ResultsStore(tmp_path / "run").trials("s")
    assert failed.state == "failed" and failed.error == MEMORY_KILLED and "--max-concurrent" in failed.error
    assert complete.state == "complete"


def test_memory_kills_are_told_apart_from_other_errors() -> None:
    try:
        raise RuntimeError("Caught unexpected exception") from ray.exceptions.OutOfMemoryError("node low on memory")
    except RuntimeError as exc:
        assert killed_for_memory(exc)
    assert not killed_for_memory(RuntimeError("another failure"))


def test_a_trial_another_driver_took_over_is_dropped_not_stored_twice(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver whose heartbeat went stale stores its trial's results, and then finds that another
    driver has failed and re-queued the trial meanwhile: the stored copy is dropped (the re-run
    counts), and the search does not crash."""
    storage = open_storage(f"sqlite:///{tmp_path}/study.db")
    store = ResultsStore(tmp_path)
    searcher = RecordingOptunaSearch(
        space=partial(tune_space, max_epochs=2), metric=OBJECTIVE, mode="max", study_name="s", storage=storage, store=store
    )
    config = searcher.suggest("slow")
    reports: list[dict] = []
    evaluate_params(config, _context(tiny_index, cache_dir), report=reports.append)
    record = store.record

    def record_then_taken_over(*args: object, **kwargs: object) -> None:
        record(*args, **kwargs)
        (trial,) = optuna.load_study(study_name="s", storage=storage).trials
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # the other driver's fail_stale_trials

    monkeypatch.setattr(store, "record", record_then_taken_over)
    searcher.on_trial_complete("slow", reports[-1])
    assert store.trials("s") == []
    assert optuna.load_study(study_name="s", storage=storage).trials[0].state == optuna.trial.TrialState.FAIL
