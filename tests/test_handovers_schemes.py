"""Every multi-fidelity, audit, strict, refit and sampler scheme hands over nothing of a test subject
(docs/protocol.md, "The invariant, as tests"; how the runs are compared: ``tests/handovers.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from handovers import assert_same_handovers, captured, search

from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.orchestrator.local_sampler import PROPOSAL_ATTR
from merauto.results.storage import NOT_TRAINED_ATTR

pytestmark = pytest.mark.slow


SCENARIOS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "asha": (("control", "all"), {"pruning": "asha:2", "outer": OuterSpec("lovo"), "budget": 2, "max_epochs": 1}),
    "audit": (("control", "all", "labels"), {"audit": True, "budget": 2, "seed_presets": True, "max_epochs": 3}),
    "strict": (("control", "all"), {"strict": True, "outer": OuterSpec("kfold", 3), "budget": 2, "seed_presets": True, "max_epochs": 1}),
    "no-refit": (("control", "all", "labels"), {"refit": False, "inner": InnerSpec("kfold", 2), "budget": 2, "seed_presets": True}),
    # the driver refuses proposals over 1.5x STSTNet's predicted cost; half of the trials mutate the incumbent
    "local-refusals": (
        ("control", "all"),
        {"sampler": "local", "relative_trial_limit": 1.5, "budget": 3, "startup_trials": 1, "max_epochs": 1},
    ),
}


@pytest.fixture(scope="module")
def scenario(ray_session: None, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Callable[[str], dict[str, Any]]:
    """``scenario(name)``: the runs of one of :data:`SCENARIOS` under each canary it needs (run on first use)."""
    runs: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in runs:
            canaries, options = SCENARIOS[name]
            root, runs[name] = tmp_path_factory.mktemp(name), {}
            for canary in canaries:
                run, log = search(root, canary, cache_dir, **options)
                runs[name][canary] = captured(run, {"search": log})
        return runs[name]

    return get


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scheme_hands_over_nothing_of_a_test_subject(scenario: Callable[[str], dict[str, Any]], name: str) -> None:
    runs = scenario(name)
    for canary in runs.keys() - {"control"}:
        assert_same_handovers(runs["control"], runs[canary])
    assert runs["control"]["test"] != runs["all"]["test"]


@pytest.mark.parametrize("name", [name for name, (canaries, _) in SCENARIOS.items() if "labels" in canaries])
def test_test_predictions_never_read_test_labels(scenario: Callable[[str], dict[str, Any]], name: str) -> None:
    """With only the test labels corrupted, the test predictions (the epoch and inner models that make
    them) are the same; only the truths they are scored against change."""
    control, relabelled = scenario(name)["control"], scenario(name)["labels"]
    for study in control["test"]:
        for a, b in zip(control["test"][study], relabelled["test"][study], strict=True):
            assert [(f["y_pred"], f["probs"], f["curve"]) for f in a] == [(f["y_pred"], f["probs"], f["curve"]) for f in b]
    assert control["test"] != relabelled["test"]


def test_the_local_sampler_and_refusals_were_exercised(scenario: Callable[[str], dict[str, Any]]) -> None:
    """What the local-refusals scenario compared: proposals refused before training, and mutations of an incumbent."""
    trials = scenario("local-refusals")["control"]["optuna"]["s"][1:]
    assert any(NOT_TRAINED_ATTR in t["user"] for t in trials) and any(PROPOSAL_ATTR in t["user"] for t in trials)


def test_strict_fold_studies_each_select_without_their_test_subject(scenario: Callable[[str], dict[str, Any]]) -> None:
    control = scenario("strict")["control"]
    assert len(control["optuna"]) == 3 and all(len(trials) == 3 for trials in control["optuna"].values())
    assert sorted(control["choices"]["strict"]) == [0, 1, 2]
