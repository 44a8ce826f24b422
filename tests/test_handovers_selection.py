"""Confirm, repeat, the ensembles, the export, every selection and a warm start hand over nothing of
a test subject (docs/protocol.md, "The invariant, as tests"; how the runs are compared: ``tests/handovers.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from handovers import HANDED_OVER, QUIET, assert_same_handovers, captured, search

from merauto.results.confirm import confirm_run
from merauto.results.export.pipeline import export_pipeline
from merauto.results.repeat import repeat_trial
from merauto.results.store import ResultsStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def selected(ray_session: None, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, dict[str, Any]]:
    """A search of four sampled trials, then merauto confirm, repeat and export of its selection."""
    root, out = tmp_path_factory.mktemp("selected"), {}
    for canary in ("control", "all", "labels"):
        run, log = search(root, canary, cache_dir, budget=4)  # sampled trials: confirm's candidates are a choice among them
        confirm_run(run, top=2, seeds=1, cache_dir=cache_dir, device="cpu", console=QUIET)
        repeat_trial(run, None, 1, cache_dir, "cpu", QUIET)
        exported = json.loads((export_pipeline(run, None, None, cache_dir, QUIET) / "pipeline.json").read_text())
        repeats = ResultsStore(run).repeats("s")
        out[canary] = captured(run, {"search": log}) | {
            "run": run,
            "export": {"config": exported["config"], "epochs": exported["epochs"], "trial": exported["provenance"]["trial"]},
            "repeats": [(r.trial, r.seed, r.inner_uf1) for r in repeats],
            "repeat_outer": [r.outer_uf1 for r in repeats],
        }
    return out


@pytest.fixture(scope="module")
def warm_started(
    selected: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> dict[str, dict[str, Any]]:
    """A search warm-started from the selected run of the same canary (warm trials count as the startup: TPE samples at once)."""
    root, out = tmp_path_factory.mktemp("warm-start"), {}
    for canary in ("control", "all"):
        run, log = search(root, canary, cache_dir, budget=1, max_epochs=1, warm_start=selected[canary]["run"])
        out[canary] = captured(run, {"search": log})
    return out


def test_confirm_repeat_ensembles_and_export_receive_nothing_of_a_test_subject(selected: dict[str, dict[str, Any]]) -> None:
    control = selected["control"]
    for canary in ("all", "labels"):
        assert_same_handovers(control, selected[canary], (*HANDED_OVER, "export", "repeats"))
        assert control["test"] != selected[canary]["test"] and control["repeat_outer"] != selected[canary]["repeat_outer"]
    # what the comparison saw: repetitions, confirmed candidates, ensembles and an exported pipeline
    assert control["repeats"] and any(t["confirmed"] for t in control["store"]["s"])
    assert control["choices"]["s"]["per_fold_ensemble"] is not None and control["export"]["epochs"] >= 1


def test_the_selections_are_the_best_inner_scores(selected: dict[str, dict[str, Any]]) -> None:
    """Confirm's candidates, the selected trial and the per-fold selections, recomputed here from the stored inner scores alone."""
    for canary in ("control", "all", "labels"):
        stored, chosen = selected[canary]["store"]["s"], selected[canary]["choices"]["s"]
        pool = [t for t in stored if t["state"] == "complete" and t["folds"] and len(t["folds"]) == 6]
        confirmed = [t for t in pool if t["confirmed"]]
        by_objective = sorted(pool, key=lambda t: (-t["objective"], t["number"]))
        assert {t["number"] for t in confirmed} == {t["number"] for t in by_objective[:2] + [t for t in pool if t["preset"]]}
        mean = {t["number"]: (t["objective"] + sum(t["repeat_inner"])) / (1 + len(t["repeat_inner"])) for t in confirmed}
        assert chosen["selected"] == max(confirmed, key=lambda t: (mean[t["number"]], -t["number"]))["number"]

        def inner(t: dict[str, Any], k: int) -> float:
            return next(f["inner_uf1"] for f in t["folds"] if f["fold"] == k)

        assert chosen["per_fold"] == {k: max(pool, key=lambda t, k=k: (inner(t, k), -t["number"]))["number"] for k in range(6)}


def test_a_warm_started_search_hands_over_nothing_of_a_test_subject(warm_started: dict[str, dict[str, Any]]) -> None:
    assert_same_handovers(warm_started["control"], warm_started["all"])
    assert warm_started["control"]["test"] != warm_started["all"]["test"]


def test_a_warm_start_hands_the_sampler_inner_scores_only(
    warm_started: dict[str, dict[str, Any]], selected: dict[str, dict[str, Any]]
) -> None:
    (warm,) = warm_started["control"]["log"]["search"]["warm"]
    complete = [t for t in selected["control"]["optuna"]["s"][1:] if t["state"] == "COMPLETE"]
    assert [values for _, state, values, _, _ in warm if state == "COMPLETE"] == [t["values"] for t in complete]
