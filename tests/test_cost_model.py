"""The cost model: work counted before training, calibration, --max-trial-seconds, --time-budget and the progress lines."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import torch
from conftest import TINY
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.features import FeatureBuilder
from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError
from merauto.evaluator.cost import PRIOR, CostModel, CostObservation, TrialWork, trial_work
from merauto.evaluator.nested import EvalData
from merauto.evaluator.settings import EvaluationSettings
from merauto.evaluator.strategies import widen
from merauto.orchestrator import searcher as searcher_module
from merauto.orchestrator import trainable
from merauto.orchestrator.durations import parse_duration
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.progress import SearchProgress
from merauto.orchestrator.proposals import CostPredictor, TrialCostLimit, costliest_options
from merauto.orchestrator.search import run_search
from merauto.orchestrator.searcher import RecordingOptunaSearch, tune_space
from merauto.orchestrator.study import COST_CEILINGS, COST_WORK, OBJECTIVE, recover_interrupted
from merauto.orchestrator.trainable import WorkerContext, evaluate_params
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.results.integrity import check_integrity
from merauto.results.report.summary import Report, leaderboard_rows, preset_verdict, trial_counts
from merauto.results.run_dir import RunInfo
from merauto.results.storage import NOT_TRAINED_ATTR
from merauto.results.store import ResultsStore, TrialTiming
from merauto.search_space.presets import PRESETS

SHAPES = {"flow": (3, 28, 28)}


def _data(subjects: int) -> EvalData:
    labels = np.arange(subjects * 6) % 3
    return EvalData(
        {"flow": np.random.default_rng(0).normal(size=(len(labels), *SHAPES["flow"])).astype(np.float32)},
        labels,
        subjects=np.repeat([f"s{i}" for i in range(subjects)], 6),
        sources=np.full(len(labels), "casme2"),
        ids=np.array([f"clip{i}" for i in range(len(labels))]),
        classes=("negative", "positive", "surprise"),
    )


def _work(config: PipelineConfig, subjects: int = 6, settings: EvaluationSettings = EvaluationSettings()) -> TrialWork:  # noqa: B008
    return trial_work(config, _data(subjects), settings, torch.device("cpu"))


def test_predicted_cost_grows_with_epochs_folds_width_and_the_protocol() -> None:
    ststnet = PRESETS["ststnet"]
    model = CostModel("cpu x1")
    base = _work(ststnet)
    longer = _work(replace(ststnet, training=replace(ststnet.training, max_epochs=2 * ststnet.training.max_epochs)))
    assert longer.gflop == pytest.approx(2 * base.gflop) and longer.mops == pytest.approx(2 * base.mops)
    more_folds = _work(ststnet, subjects=9)
    wider = _work(widen(ststnet, 2))
    no_refit = _work(ststnet, settings=EvaluationSettings(refit=False))
    assert model.predict(no_refit) < model.predict(base) < model.predict(longer)
    assert model.predict(base) < model.predict(more_folds) and base.gflop < wider.gflop and model.predict(base) < model.predict(wider)
    augmented = _work(
        replace(ststnet, augment=Choice("spatial", {"brightness": 0.1, "contrast": 0.1, "crop": 0.9, "flip": True, "rotate": 5.0}))
    )
    assert augmented.mops > base.mops, "the step is counted on the engine: augmentation costs operators too"


def test_calibration_recovers_the_machine_and_scales_the_prior_until_three_trials() -> None:
    truth = (2.0, 0.01, 50.0, 3.0)
    works = [TrialWork(g, m, e) for g, m, e in ((10, 0.1, 5), (400, 0.05, 1), (50, 0.9, 20), (900, 0.4, 2), (5, 0.02, 30), (70, 0.3, 8))]
    observations = [CostObservation(w.gflop, w.mops, w.gelements, float(w.features() @ np.array(truth))) for w in works]
    fitted = CostModel.fit("cpu x1", observations)
    assert fitted.trials == 6 and fitted.coefficients == pytest.approx(truth, rel=1e-6)
    assert CostModel.from_json(fitted.to_json()) == fitted
    prior = [float(w.features() @ np.array(PRIOR)) for w in works]
    twice_as_slow = [CostObservation(w.gflop, w.mops, w.gelements, 2 * seconds) for w, seconds in zip(works, prior, strict=True)]
    assert CostModel.fit("cpu x1", twice_as_slow[:3]).coefficients == pytest.approx(tuple(2 * c for c in PRIOR))
    assert CostModel.fit("cpu x1", []) == CostModel("cpu x1")


@pytest.mark.parametrize(("text", "seconds"), [("3h", 10800.0), ("90m", 5400.0), ("1h30m", 5400.0), ("45s", 45.0), ("2.5", 2.5)])
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text, "--time-budget") == seconds


@pytest.mark.parametrize("text", ["0", "abc", "-5", "3x", "h", "inf"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(MerautoError, match="--time-budget"):
        parse_duration(text, "--time-budget")


def _searcher(tmp_path: Path, **ceilings: object) -> tuple[RecordingOptunaSearch, optuna.storages.RDBStorage, ResultsStore]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/study.db")
    store = ResultsStore(tmp_path)
    searcher = RecordingOptunaSearch(
        space=partial(tune_space, max_epochs=20),
        metric=OBJECTIVE,
        mode="max",
        study_name="s",
        storage=storage,
        store=store,
        seed=0,  # the same proposal on every machine
        **ceilings,
    )
    return searcher, storage, store


def _context(index: SampleIndex, cache_dir: Path) -> WorkerContext:
    builder = FeatureBuilder(index, FeatureCache(cache_dir))
    return WorkerContext(index, builder.fingerprints, cache_dir, EvaluationSettings(), [[0, 1, 2, 3, 4, 5]], "cpu", 1)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a trial over its ceiling was trained")

    monkeypatch.setattr(trainable, "evaluate_trial", refuse)


@pytest.mark.usefixtures("no_training")
def test_a_trial_predicted_over_max_trial_seconds_is_not_trained_and_is_recorded_with_its_reason(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path
) -> None:
    searcher, storage, store = _searcher(tmp_path, trial_limit=TrialCostLimit(seconds=1e-3))  # no predictor: the worker checks
    config = searcher.suggest("t")
    reports: list[dict] = []
    evaluate_params(config, _context(tiny_index, cache_dir), report=reports.append)
    (report,) = reports
    assert report["status"] == "too_costly" and "--max-trial-seconds" in report["reason"]
    searcher.on_trial_complete("t", report)

    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.constraints["max_trial_seconds"] > 0, "the sampler sees it as infeasible"
    assert trial.user_attrs["predicted_seconds"] == round(report["predicted_s"], 1)
    (stored,) = store.trials("s")
    assert stored.state == "pruned" and stored.outcome is None and "--max-trial-seconds" in stored.error and not stored.feasible
    (timing,) = store.timings("s")
    assert timing.train_s is None and timing.predicted_s == report["predicted_s"]
    info = RunInfo("s", f"sqlite:///{tmp_path}/study.db", TINY, EvaluationSettings())
    (row,) = leaderboard_rows(Report(tmp_path, info, None, store.trials("s"), [], {}))
    assert row["rank"] == "pruned" and row["config"].startswith("not trained: predicted training time")


@pytest.mark.usefixtures("no_training")
def test_the_worker_reuses_the_work_the_driver_counted_for_its_kind_of_device(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver counts a proposal's work to price it and hands the count over (``cost_work``): a
    worker on the same kind of device reports it without counting again; another kind counts its own."""
    builder = FeatureBuilder(tiny_index, FeatureCache(cache_dir))
    predictor = CostPredictor(tiny_index, cache_dir, builder.fingerprints, EvaluationSettings(), "cpu", 1)
    searcher, _, _ = _searcher(tmp_path, predictor=predictor)
    config = searcher.suggest("t")
    handed = config[COST_WORK]
    assert handed["kind"] == "cpu x1" and handed["gflop"] > 0 and handed["mops"] > 0
    counted: list[str] = []
    monkeypatch.setattr(trainable, "trial_work", lambda *args: counted.append("counted") or TrialWork(1.0, 1.0, 1.0))
    for kind, expected in (("cpu x1", handed["gflop"]), ("NVIDIA H100", 1.0)):
        reports: list[dict] = []
        params = {**config, COST_WORK: {**handed, "kind": kind}, COST_CEILINGS: {"max_trial_seconds": 1e-9}}  # priced, never trained
        evaluate_params(params, _context(tiny_index, cache_dir), report=reports.append)
        (report,) = reports
        assert report["status"] == "too_costly" and report["work_gflop"] == expected
    assert counted == ["counted"], "counted again only for another kind of device"


@pytest.mark.usefixtures("no_training")
def test_a_trial_predicted_to_overrun_the_time_budget_does_not_start_and_runs_again_later(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path
) -> None:
    ResultsStore(tmp_path).record_timing(
        "s", TrialTiming(99, "cpu x1", 1.0, 1e7, 1.0, 0.01, 0.01, 1.0)
    )  # measured: this machine is very slow
    searcher, storage, store = _searcher(tmp_path, deadline=time.time() + 3600)
    config = searcher.suggest("t")
    reports: list[dict] = []
    evaluate_params(config, _context(tiny_index, cache_dir), report=reports.append)
    assert reports[-1]["status"] == "past_budget", reports[-1].get("traceback")
    assert "--time-budget" in reports[-1]["reason"]
    searcher.on_trial_complete("t", reports[-1])
    assert searcher.suggest("next") == "FINISHED", "no further trial starts"

    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.RUNNING] and store.trials("s") == []
    recover_interrupted(study, storage)
    queued = study.trials[-1]
    assert queued.state == optuna.trial.TrialState.WAITING and queued.system_attrs["fixed_params"] == study.trials[0].params


def test_time_budget_stops_the_search_and_a_resume_reaches_the_budget(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searcher_module, "MAX_REFUSALS_IN_A_ROW", 3)  # every proposal is refused: stop after three, not forty
    run_dir = tmp_path / "run"
    options = SearchOptions(TINY, run_dir, "s", cache_dir, budget=2, max_epochs=2, seed_presets=True, max_concurrent=1)
    run_dir.mkdir()
    ResultsStore(run_dir).record_timing("s", TrialTiming(99, "cpu x1", 1.0, 1e7, 1.0, 0.01, 0.01, 1.0))  # measured: very slow
    stopped = run_search(replace(options, time_budget_s=3600), Console(quiet=True))
    assert stopped.stopped_early and stopped.finished == 0
    stored = ResultsStore(run_dir).trials("s")
    assert stored and all(t.outcome is None and t.state == "pruned" for t in stored), "nothing was trained"

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run_dir}/study.db")
    refused = [t for t in study.trials if NOT_TRAINED_ATTR in t.user_attrs]
    assert refused and all("--time-budget" in t.user_attrs[NOT_TRAINED_ATTR] for t in refused)
    assert sorted(t.number for t in refused) == sorted(t.number for t in stored)

    resumed = run_search(options, Console(quiet=True))
    assert not resumed.stopped_early and resumed.finished == 2
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.user_attrs.get("preset") for t in complete) == ["off_apexnet", "ststnet"], "presets that did not fit ran on resume"
    verdict = preset_verdict(ResultsStore(run_dir).trials("s"))
    assert verdict is not None and verdict.startswith("the selection is the literature preset") and "no sampled pipeline" in verdict
    assert all(t.user_attrs["train_seconds"] > 0 and t.user_attrs["predicted_seconds"] > 0 for t in complete)
    assert "cpu x1" in study.user_attrs["cost_model"]


def test_progress_prints_one_plain_line_per_trial_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    progress = SearchProgress(4, 1, None, Console(file=out, width=80), slots=2)
    numbers = {"a": 3, "b": 4}
    progress.number_of = numbers.get
    trial = SimpleNamespace(trial_id="a", last_result={"status": "ok", OBJECTIVE: 0.5, "seconds": 60.0})
    with progress:
        progress.on_trial_start(0, [], trial)
        progress.on_trial_complete(0, [], trial)
        cheap = SimpleNamespace(trial_id="b", last_result={"status": "too_costly", "reason": "predicted 900 s", "seconds": 2.0})
        progress.on_trial_complete(0, [], cheap)
    first, second = out.getvalue().splitlines()
    assert first.split(" ", 1)[1].startswith("trial 3 complete, inner UF1 0.500 | 2/4 done, 0 running; best inner UF1 0.500; eta 0:01:00")
    assert "trial 4 not trained: predicted 900 s | 3/4 done" in second and "1 not trained" in second and "eta 0:00:31" in second


def test_calibration_scales_a_pruned_trials_work_and_the_report_plots_predicted_against_measured() -> None:
    from merauto.orchestrator.searcher import calibrations
    from merauto.results.report.figures import cost_prediction_figure

    timings = [
        TrialTiming(0, "cpu x1", 10.0, 10.0, 100.0, 1.0, 1.0, 1.0),
        TrialTiming(1, "cpu x1", 40.0, 4.0, 400.0, 4.0, 4.0, 0.1),  # pruned after a tenth of the folds
        TrialTiming(2, "cpu x1", 900.0, None, 9000.0, 90.0, 90.0, 1.0),  # not trained
        TrialTiming(3, "NVIDIA H100", 5.0, 2.0, 100.0, 1.0, 1.0, 1.0),
    ]
    models = calibrations(timings)
    assert set(models) == {"cpu x1", "NVIDIA H100"} and models["cpu x1"].trials == 2 and models["NVIDIA H100"].trials == 1
    scaled = [CostObservation(100.0, 1.0, 1.0, 10.0), CostObservation(40.0, 0.4, 0.4, 4.0)]  # trial 1's work times 0.1
    assert models["cpu x1"] == CostModel.fit("cpu x1", scaled)
    figure = cost_prediction_figure(timings)
    trained = {trace.name: list(trace.x) for trace in figure.data if trace.name.startswith("trained on")}
    assert trained == {"trained on NVIDIA H100": [5.0], "trained on cpu x1": [10.0, 4.0]}, "a pruned trial is compared for the folds it ran"


def test_refused_proposals_do_not_consume_the_budget(cache_dir: Path, tmp_path: Path) -> None:
    """A proposal predicted over the trial limit is refused in the driver: told PRUNED and infeasible,
    stored with its reason, never trained, and the budget still buys that many trained pipelines."""
    run_dir = tmp_path / "run"
    options = SearchOptions(TINY, run_dir, "s", cache_dir, budget=3, max_epochs=4, max_concurrent=1, relative_trial_limit=1.5)
    out = io.StringIO()
    summary = run_search(options, Console(file=out, width=200))
    assert summary.finished == 3 and not summary.stopped_early

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run_dir}/study.db")
    refused = [t for t in study.trials if NOT_TRAINED_ATTR in t.user_attrs]
    trained = [t for t in study.trials if NOT_TRAINED_ATTR not in t.user_attrs]
    assert refused, "the space holds pipelines over 1.5x STSTNet's predicted cost: some proposals were refused"
    assert len(trained) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trained)
    assert all(t.state == optuna.trial.TrialState.PRUNED and t.constraints["max_trial_seconds"] > 0 for t in refused)
    assert all(t.constraints["max_trial_seconds"] <= 0 for t in trained), "what was trained was predicted under the limit"
    stored = {t.number: t for t in ResultsStore(run_dir).trials("s")}
    assert all(stored[t.number].outcome is None and "--max-trial-seconds" in stored[t.number].error for t in refused)
    assert all(stored[t.number].state == "complete" for t in trained)
    assert "x the ststnet preset's predicted training time" in out.getvalue(), "the limit is said before the first trial"
    integrity = check_integrity(study, list(stored.values()))
    assert integrity.ok and integrity.counted == 3, integrity.describe()
    counts = trial_counts(list(stored.values()))
    assert counts.startswith("3 trained on every fold") and f"{len(refused)} proposals not trained" in counts


def test_calibration_survives_a_loaded_machine() -> None:
    """Fitted on CPU seconds per thread, the calibration is the same whether the machine was idle or
    three times oversubscribed; only the load factor of the latest trials scales the predictions."""
    from merauto.orchestrator.searcher import calibrations, current_load

    truth = (2.0, 0.01, 50.0, 3.0)
    works = [TrialWork(g, m, e) for g, m, e in ((10, 0.1, 5), (400, 0.05, 1), (50, 0.9, 20), (900, 0.4, 2), (5, 0.02, 30), (70, 0.3, 8))]
    busy = [float(w.features() @ np.array(truth)) for w in works]
    idle = [
        TrialTiming(i, "cpu x1", 1.0, s, w.gflop, w.mops, w.gelements, 1.0, s) for i, (w, s) in enumerate(zip(works, busy, strict=True))
    ]
    loaded = [replace(t, train_s=3 * t.busy_s) for t in idle]
    assert calibrations(loaded) == calibrations(idle) and calibrations(idle)["cpu x1"].coefficients == pytest.approx(truth, rel=1e-6)
    assert current_load(idle) == pytest.approx(1.0) and current_load(loaded) == pytest.approx(3.0)
    passed = loaded[:3] + idle[3:]  # the load was early in the search: the latest trials say the machine is idle again
    assert current_load(passed) == pytest.approx(1.0) and calibrations(passed) == calibrations(idle)
    wall_only = [replace(t, busy_s=None) for t in loaded]  # run folders written before busy_s: fitted on wall time, as then
    assert calibrations(wall_only)["cpu x1"].coefficients == pytest.approx(tuple(3 * c for c in truth), rel=1e-6)
    assert current_load(wall_only) == 1.0


def test_a_results_store_written_before_busy_seconds_opens_and_records_them(tmp_path: Path) -> None:
    import sqlite3

    ResultsStore(tmp_path).record_timing("s", TrialTiming(0, "cpu x1", 1.0, 2.0, 1.0, 0.1, 0.1, 1.0))
    with sqlite3.connect(tmp_path / "results.db") as db:
        db.execute("ALTER TABLE trial_timings DROP COLUMN busy_s")  # as an older merauto wrote it
    store = ResultsStore(tmp_path)
    store.record_timing("s", TrialTiming(1, "cpu x1", 1.0, 4.0, 1.0, 0.1, 0.1, 1.0, 2.0))
    assert [(t.number, t.busy_s, t.load) for t in store.timings("s")] == [(0, None, None), (1, 2.0, 2.0)]


def test_a_space_with_nothing_affordable_stops_and_names_the_costliest_choices(
    tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(searcher_module, "MAX_REFUSALS_IN_A_ROW", 3)
    builder = FeatureBuilder(tiny_index, FeatureCache(cache_dir))
    predictor = CostPredictor(tiny_index, cache_dir, builder.fingerprints, EvaluationSettings(), "cpu", 1)
    searcher, storage, store = _searcher(tmp_path, trial_limit=TrialCostLimit(seconds=1e-6), predictor=predictor)
    assert searcher.suggest("t") == "FINISHED"
    assert searcher.stopped_why is not None and "the last 3 proposals were all predicted over" in searcher.stopped_why
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.PRUNED and NOT_TRAINED_ATTR in t.user_attrs for t in trials)
    assert [t.state for t in store.trials("s")] == ["pruned"] * 3
    refused = [({"block": "capsule", "loss": "focal"}, 900.0), ({"block": "capsule", "loss": "arcface"}, 700.0)]
    refused += [({"block": "residual", "loss": "focal"}, 10.0), ({"block": "residual", "loss": "arcface"}, 30.0)]
    assert [c for c, _, _ in costliest_options(refused)] == ["block=capsule", "loss=focal", "loss=arcface"]


def test_the_eta_comes_from_the_predictions_of_the_trials_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running trials count what their prediction leaves; trials not started the mean accepted prediction,
    scaled by how the finished trials' measured times compared with their predictions; shared among the slots."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    progress = SearchProgress(6, 0, None, Console(quiet=True), slots=2)
    for trial_id, seconds in (("a", 100.0), ("b", 300.0)):
        progress.predicted(trial_id, seconds)
        progress.on_trial_start(0, [], SimpleNamespace(trial_id=trial_id))
    now[0] += 50.0
    # running: 50 and 250 s left; 4 not started at the mean prediction 200 s: (300 + 800) / 2 slots
    assert progress.eta_s() == pytest.approx(550.0)
    done = {"status": "ok", OBJECTIVE: 0.5, "seconds": 60.0, "predicted_s": 100.0, "train_s": 50.0}
    progress.on_trial_complete(0, [], SimpleNamespace(trial_id="a", last_result=done))  # trained twice as fast as predicted
    # running: b, 300 * 0.5 - 50 = 100 s left; 4 not started at 200 * 0.5 = 100 s: (100 + 400) / 2
    assert progress.eta_s() == pytest.approx(250.0)
    assert "eta 0:04:10" in progress.describe()
