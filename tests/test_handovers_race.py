"""Racing over folds, a resumed race, and the spotting search hand over nothing of a test subject
(docs/protocol.md, "The invariant, as tests"; how the runs are compared: ``tests/handovers.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from handovers import QUIET, assert_same_handovers, canonical, captured, search

from merauto.data.long_videos.folders import load_long_videos
from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos
from merauto.evaluator.protocol import OuterSpec
from merauto.orchestrator.spot_search import run_spot_search
from merauto.orchestrator.study import FOLD_SCORES
from merauto.results.spotting.report import per_fold_choice, spot_estimates
from merauto.results.spotting.store import load_spot_trials

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raced(ray_session: None, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, dict[str, Any]]:
    """Racing over leave-one-clip-out rungs (29 folds: rungs of 8 and 29), resumed for one more trial:
    the race restarts from the leaders of the stored trials."""
    root, out = tmp_path_factory.mktemp("raced"), {}
    options: dict[str, Any] = {"pruning": "race:0.3", "outer": OuterSpec("lovo"), "max_epochs": 1, "seed_presets": True}
    for canary in ("control", "all"):
        run, first = search(root, canary, cache_dir, **options, budget=2)
        _, resumed = search(root, canary, cache_dir, **options, budget=3)
        out[canary] = captured(run, {"first": first, "resumed": resumed})
    return out


@pytest.fixture(scope="module")
def spotted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The spotting search over both spotters on the tiny long videos, under every canary."""
    spec = LongVideoSpec(size="tiny")
    videos = load_long_videos(ensure_long_videos(spec, tmp_path_factory.mktemp("lv")), spec.fps)
    root, out = tmp_path_factory.mktemp("spot"), {}
    for canary in ("control", "all", "labels"):
        run = root / canary
        trials = run_spot_search(videos, run, "spot", 2, 0, None, QUIET, device="cpu", canary=canary)
        study = optuna.load_study(study_name="spot", storage=f"sqlite:///{run / 'study.db'}")
        estimates = spot_estimates(trials)
        out[canary] = {
            "optuna": [(t.number, t.state.name, t.params, t.values, t.system_attrs) for t in study.trials],
            "thresholds": [[(f["subject"], f["thresholds"], f["inner"]) for f in t.folds] for t in load_spot_trials(run)],
            "objectives": [t.objective for t in trials],
            "choices": {"global": estimates[0].description, "per_fold": {s: t.number for s, t in per_fold_choice(trials).items()}},
            "test": [[(f["test"], f["spotted"]) for f in t.folds] for t in trials],
            "test_counts": [[f["test"] for f in t.folds] for t in trials],
        }
    return out


def test_racing_and_a_resumed_race_receive_nothing_of_a_test_subject(raced: dict[str, dict[str, Any]]) -> None:
    control, corrupted = raced["control"], raced["all"]
    assert_same_handovers(control, corrupted)
    assert control["test"] != corrupted["test"]
    # what the comparison saw: rung reports of 8 folds, and the stored leader a resumed race starts from
    assert any(r["status"] == "running" and len(r[FOLD_SCORES]) == 8 for r in control["log"]["first"]["scheduler"])
    assert 1 in control["log"]["resumed"]["leaders"][0]
    trials = control["optuna"]["s"][1:]
    assert all(t["intermediate"] for t in trials if t["state"] == "COMPLETE") and "PRUNED" in [t["state"] for t in trials]


def test_the_spotting_search_receives_nothing_of_a_test_subject(spotted: dict[str, dict[str, Any]]) -> None:
    control = spotted["control"]
    for canary in ("all", "labels"):
        for key in ("optuna", "thresholds", "objectives", "choices"):
            assert canonical(control[key]) == canonical(spotted[canary][key]), f"spotting {key} depends on a test subject"
        assert control["test_counts"] != spotted[canary]["test_counts"]
    assert [[spotted_ for _, spotted_ in t] for t in control["test"]] == [[s for _, s in t] for t in spotted["labels"]["test"]]
