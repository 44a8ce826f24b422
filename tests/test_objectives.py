"""Several objectives: UF1 against parameters and latency, limits as Optuna constraints, the Pareto front."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from commands import TINY, merauto

from merauto.errors import MerautoError
from merauto.orchestrator.study import set_constraints
from merauto.pipeline.objectives import CostLimits, parse_objectives
from merauto.results.pareto import pareto_front
from merauto.results.selection import selected_trial
from merauto.results.store import ResultsStore, StoredTrial


@pytest.mark.parametrize("text", ["params", "uf1,uf1", "uf1,size", ""])
def test_bad_objectives_are_refused_with_the_choices(text: str) -> None:
    with pytest.raises(MerautoError, match="uf1,params,latency"):
        parse_objectives(text)


def test_objectives_and_limits() -> None:
    assert parse_objectives("uf1, params,latency") == ("uf1", "params", "latency")
    limits = CostLimits(max_params=1000, max_latency_ms=2.0)
    assert limits.violations(900, 1.0) == {"max_params": -100.0, "max_latency_ms": -1.0} and limits.feasible(900, 1.0)
    assert not limits.feasible(1001, 1.0) and not limits.feasible(900, None)  # an unmeasured latency cannot meet its limit
    assert CostLimits().feasible(10**9, None) and not CostLimits()
    study = optuna.create_study()
    trial = study.ask()
    set_constraints(trial, CostLimits(max_params=1000, max_latency_ms=1.0), 60.0, 1500, None, 90.0)
    study.tell(trial, 0.5)
    assert study.trials[0].constraints == {"max_params": 500.0, "max_latency_ms": 1e12, "max_trial_seconds": 0.5}


def _trial(number: int, uf1: float, params: int, feasible: bool = True) -> StoredTrial:
    return StoredTrial(number, "complete", None, None, uf1, params, 1.0, None, None, None, feasible)


def test_the_front_and_the_default_export_hold_feasible_trials_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import merauto.results.pareto as pareto
    import merauto.results.selection as selection

    def all_folds(trials: list[StoredTrial]) -> list[StoredTrial]:  # these trials have no outcomes; all count as complete
        return [t for t in trials if t.feasible]

    monkeypatch.setattr(selection, "eligible", all_folds)
    monkeypatch.setattr(pareto, "eligible", all_folds)
    trials = [_trial(0, 0.70, 5000), _trial(1, 0.80, 9000, feasible=False), _trial(2, 0.60, 800), _trial(3, 0.55, 900)]
    assert [t.number for t in pareto_front(trials, ("uf1", "params"))] == [0, 2]
    assert selection.selected_trial(trials).number == 0  # the best UF1 among feasible trials


@pytest.mark.slow
def test_a_constrained_two_objective_search_resumes_and_reports_its_front(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *TINY, "--seed-presets", "--objectives", "uf1,params", "--max-params", "4000", "--run-dir", str(run_dir)]
    merauto(*search, "--budget", "2", cache=cache)
    merauto(*search, "--budget", "3", cache=cache)  # resumed: one more trial, none lost or counted twice

    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"] and study.metric_names == ["inner_uf1", "n_params"]
    assert [t.number for t in study.trials] == [0, 1, 2] and all(t.state.name == "COMPLETE" for t in study.trials)
    trials = ResultsStore(run_dir).trials("synthetic-tiny")
    feasible = {t.preset: t.feasible for t in trials}
    assert feasible == {"ststnet": True, "off_apexnet": False, "dual_inception": True}  # 1683, 4643 and 3499 parameters
    front = pareto_front(trials, ("uf1", "params"))
    assert front and all(t.feasible and t.n_params <= 4000 for t in front)
    assert selected_trial(trials).preset != "off_apexnet"
    assert json.loads((run_dir / "merauto.json").read_text())["max_params"] == 4000

    html = (run_dir / "report.html").read_text()
    assert "Accuracy against cost" in html and "export default" in html

    refused = merauto("search", *TINY, "--seed-presets", "--budget", "4", "--run-dir", str(run_dir), cache=cache, check=False)
    assert refused.returncode == 2 and "objectives" in refused.stderr  # objectives and limits are part of the protocol


@pytest.mark.slow
def test_three_objectives_measure_latency_in_the_trial_and_the_best_pipeline_exports(tmp_path: Path, cache_dir: Path) -> None:
    """The issue's end-to-end case at tiny size: UF1, parameters and latency, then the default export (verified by onnxruntime)."""
    run_dir, cache = tmp_path / "run", cache_dir
    merauto("search", *TINY, "--budget", "2", "--objectives", "uf1,params,latency", "--run-dir", str(run_dir), cache=cache)
    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete and all(len(t.values) == 3 and t.values[2] > 0 for t in complete)
    stored = {t.number: t for t in ResultsStore(run_dir).trials("synthetic-tiny")}
    assert all(stored[t.number].latency_ms == pytest.approx(t.values[2]) for t in complete)
    assert "Accuracy against cost" in (run_dir / "report.html").read_text()
    merauto("export", str(run_dir), cache=cache)
    (export_dir,) = (run_dir / "export").iterdir()
    assert (export_dir / "model.onnx").is_file()
