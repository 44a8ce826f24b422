"""The leakage invariant end to end, checked where values are handed over (docs/protocol.md, "The invariant, as tests").

Real tiny searches run twice: under the ``control`` canary (every fold evaluated on its own) and
under a corrupting one (every fold's test rows corrupted inside that fold only, clean as training
rows of the other folds; :mod:`merauto.evaluator.canary`). What each hand-over received is captured
where it is received: the study's trials in Optuna's storage (what samplers and pruners read), the
results each Ray Tune scheduler compared and its decisions, the leaders a resumed race starts from,
the warm-start trials given to the sampler, the results store's records (what every selection,
``confirm``, ``repeat`` and the ensembles read), the selections themselves, the export's config and
epochs, and the spotting search's study, thresholds and selections. They must be byte-identical,
while the stored test predictions differ. Under the ``labels`` canary even the test predictions must
stay the same: only a leak that reads test labels (an epoch or inner model picked on the test
subject) changes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import TINY
from optuna.study._constrained_optimization import _CONSTRAINTS_KEY as CONSTRAINTS_KEY
from rich.console import Console

import merauto.orchestrator.tune_runner as tune_runner
from merauto.data.long_videos.folders import load_long_videos
from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos
from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.orchestrator.local_sampler import PROPOSAL_ATTR
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.ray_session import open_ray
from merauto.orchestrator.schedulers import RacingScheduler
from merauto.orchestrator.search import run_search
from merauto.orchestrator.spot_search import run_spot_search
from merauto.orchestrator.study import FOLD_SCORES, OBJECTIVE, RUNG
from merauto.orchestrator.warm_start import WARM_START_ATTR
from merauto.results.confirm import confirm_run
from merauto.results.ensemble import global_ensemble, per_fold_ensemble
from merauto.results.export.pipeline import export_pipeline
from merauto.results.repeat import repeat_trial
from merauto.results.run_dir import fold_study_name, load_run
from merauto.results.selection import confirmed_per_fold_selection, per_fold_selection, selected_trial, strict_selection
from merauto.results.spotting.report import per_fold_choice, spot_estimates
from merauto.results.spotting.store import load_spot_trials
from merauto.results.storage import DRIVER_ATTR, LEASE_ATTR, NOT_TRAINED_ATTR, PROTOCOL_ATTR, open_storage
from merauto.results.store import ResultsStore, StoredTrial

pytestmark = pytest.mark.slow

QUIET = Console(quiet=True)
PEOPLE_ONLY = ("outer_",)  # user attributes for people (optuna-dashboard) that hold test scores: allowed to differ
WALL_CLOCK = {"seconds", "train_seconds", "predicted_seconds", "ray_node", "cost_model"}  # timings differ between any two runs
WHO = {DRIVER_ATTR, LEASE_ATTR}  # which driver process ran a trial, and when it last beat
PRICED = {NOT_TRAINED_ATTR}  # a refusal's reason quotes predicted seconds (wall-clock calibrated): compared as present or not


def canonical(value: Any) -> str:
    """``value`` as JSON text with sorted keys: what "byte-identical" compares."""
    return json.dumps(value, sort_keys=True, default=str)


# --- what Optuna, the pruners and the sampler receive ---------------------------------------------------------


def optuna_view(storage_url: str, study: str) -> list[dict[str, Any]]:
    """Every trial of ``study`` as a sampler or pruner reads it from the storage: state, parameters and
    their distributions, values, intermediate values, constraints, and the user attributes that are not
    for people only or wall-clock readings; plus the study's own user attributes."""
    loaded = optuna.load_study(study_name=study, storage=open_storage(storage_url))
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "distributions": {k: optuna.distributions.distribution_to_json(d) for k, d in t.distributions.items()},
            "values": t.values,
            "intermediate": t.intermediate_values,
            "system": {k: _rounded(v) if k.startswith(CONSTRAINTS_KEY) else v for k, v in t.system_attrs.items()},
            "user": {
                k: True if k in PRICED else v
                for k, v in t.user_attrs.items()
                if not k.startswith(PEOPLE_ONLY) and k not in WALL_CLOCK | WHO
            },
        }
        for t in loaded.get_trials(deepcopy=False)
    ]
    attrs = {k: v for k, v in loaded.user_attrs.items() if k not in WALL_CLOCK | WHO}
    attrs[PROTOCOL_ATTR] = {k: v for k, v in attrs[PROTOCOL_ATTR].items() if k != "canary"}  # the one setting the runs differ in
    if WARM_START_ATTR in attrs:  # the run it came from is another folder in each run
        attrs[WARM_START_ATTR] = {k: v for k, v in attrs[WARM_START_ATTR].items() if k != "run"}
    return [{"study": attrs}, *trials]


def _handed_over(attribute: str) -> bool:
    """Whether a trial's user attribute is compared: not one for people only, nor a wall-clock reading."""
    return not attribute.startswith(PEOPLE_ONLY) and attribute not in WALL_CLOCK | WHO


def _rounded(constraint: float) -> float:
    """A constraint value to 6 significant digits: a predicted time over a limit is a ratio of two
    predictions scaled by the same wall-clock calibration, equal between runs up to the last bits."""
    return float(f"{constraint:.6g}")


@contextmanager
def recording_handovers() -> Iterator[dict[str, list]]:
    """Record, while a search runs in this process (its driver), what each Ray Tune scheduler is given
    and decides, the leaders a race starts from, and the warm-start trials handed to the sampler."""
    log: dict[str, list] = {"scheduler": [], "leaders": [], "warm": []}
    build_scheduler, build_sampler = tune_runner.fold_scheduler, tune_runner.make_sampler

    def fold_scheduler(*args: Any, **kwargs: Any) -> Any:
        scheduler = build_scheduler(*args, **kwargs)
        if isinstance(scheduler, RacingScheduler):
            log["leaders"].append(dict(scheduler.leaders))
        base = type(scheduler)

        class Recording(base):  # type: ignore[misc, valid-type]
            def on_trial_result(self, controller: Any, trial: Any, result: dict[str, Any]) -> str:
                decision = super().on_trial_result(controller, trial, result)
                seen = {key: result.get(key) for key in (OBJECTIVE, RUNG, FOLD_SCORES, "status", "folds_done")}
                log["scheduler"].append({**seen, "decision": decision, "compares": scheduler_state(self)})
                return decision

        scheduler.__class__ = Recording
        return scheduler

    def make_sampler(seed: int, startup_trials: int, warm_trials: list | None = None, sampler: str = "tpe") -> Any:
        log["warm"].append([(t.number, t.state.name, t.values, t.params, t.intermediate_values) for t in warm_trials or []])
        return build_sampler(seed, startup_trials, warm_trials, sampler)

    tune_runner.fold_scheduler, tune_runner.make_sampler = fold_scheduler, make_sampler
    try:
        yield log
    finally:
        tune_runner.fold_scheduler, tune_runner.make_sampler = build_scheduler, build_sampler


def scheduler_state(scheduler: Any) -> Any:
    """What a scheduler compares the next result with: racing's leader of each rung, or the scores ASHA
    recorded at each milestone (by value: Ray Tune's trial ids differ between runs)."""
    if isinstance(scheduler, RacingScheduler):
        return dict(scheduler.leaders)
    return [(milestone, sorted(recorded.values())) for bracket in scheduler._brackets for milestone, recorded in bracket._rungs]


# --- what the results store hands to selections, confirm, repeat and ensembles --------------------------------


def selection_view(trials: list[StoredTrial]) -> list[dict[str, Any]]:
    """Each stored trial as a selection reads it: state, config, objective, feasibility, every fold's
    selection-visible values, and its repetitions' inner scores."""
    return [
        {
            "number": t.number,
            "state": t.state,
            "preset": t.preset,
            "config": t.config.to_json() if t.config else None,
            "objective": t.objective,
            "feasible": t.feasible,
            "folds": [asdict(f.selection) for f in t.outcome.folds] if t.outcome else None,
            "repeat_inner": t.repeat_inner,
            "repeat_fold_inner": t.repeat_fold_inner,
            "confirmed": t.confirmed,
        }
        for t in trials
    ]


def predictions_view(trials: list[StoredTrial]) -> list[Any]:
    """Each stored trial's test predictions: what may (and, corrupted, must) differ."""
    return [[asdict(f.test) for f in t.outcome.folds] for t in trials if t.outcome]


def choices(trials: list[StoredTrial]) -> dict[str, Any]:
    """Every choice a person or command reads off a study's trials: the selected trial, the per-fold
    selection and its confirmed variant, and the ensembles' members."""
    per_fold, confirmed = per_fold_selection(trials), confirmed_per_fold_selection(trials)
    ensembles = {"per_fold": per_fold_ensemble(trials, size=3, n_resamples=10), "global": global_ensemble(trials, size=3, n_resamples=10)}
    selected = selected_trial(trials)
    return {
        "selected": None if selected is None else selected.number,
        "per_fold": None if per_fold is None else per_fold.fold_trials,
        "confirmed_per_fold": None if confirmed is None else confirmed.fold_trials,
        **{f"{name}_ensemble": None if e is None else e.members for name, e in ensembles.items()},
    }


# --- the searches ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray for every search of this module (each search uses a Ray already started as it is)."""
    session = open_ray(None, log_dir=tmp_path_factory.mktemp("ray-logs"))
    yield
    session.close()


def search(root: Path, canary: str, cache_dir: Path, **options: Any) -> tuple[Path, dict[str, list]]:
    """A tiny search under ``canary`` (sequential trials: the runs compared must meet the same choices in the same order)."""
    run = root / canary
    defaults: dict[str, Any] = {"budget": 3, "max_epochs": 2, "max_concurrent": 1, "startup_trials": 1, "seed": 3, "canary": canary}
    with recording_handovers() as log:
        run_search(SearchOptions(TINY, run, "s", cache_dir, **(defaults | options)), QUIET)
    return run, log


def captured(run: Path, log: dict[str, list]) -> dict[str, Any]:
    """What the search in ``run`` handed over (``log``: recorded while it ran), and its test predictions."""
    info = load_run(run)
    studies = [fold_study_name(info.study_name, k) for k in range(3)] if info.strict else [info.study_name]
    store = ResultsStore(run)
    strict = strict_selection({k: store.trials(s) for k, s in enumerate(studies)}) if info.strict else None
    return {
        "optuna": {s: optuna_view(info.storage_url, s) for s in studies},
        "store": {s: selection_view(store.trials(s)) for s in studies},
        "choices": {s: choices(store.trials(s)) for s in studies} | {"strict": None if strict is None else strict.fold_trials},
        "log": log,
        "test": {s: predictions_view(store.trials(s)) for s in studies},
    }


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
def selected(ray_session: None, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, dict[str, Any]]:
    """A search seeded with presets, then merauto confirm, repeat and export of its selection."""
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


SCENARIOS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "asha": (("control", "all"), {"pruning": "asha:2", "outer": OuterSpec("lovo"), "budget": 2, "max_epochs": 1}),
    "audit": (("control", "all", "labels"), {"audit": True, "budget": 2, "seed_presets": True, "max_epochs": 3}),
    "strict": (("control", "all"), {"strict": True, "outer": OuterSpec("kfold", 3), "budget": 2, "seed_presets": True, "max_epochs": 1}),
    "no-refit": (("control", "all", "labels"), {"refit": False, "inner": InnerSpec("kfold", 2), "budget": 2, "seed_presets": True}),
    "warm-start": (("control", "all"), {"budget": 1, "max_epochs": 1}),  # warm trials count as the startup: TPE samples at once
    # the driver refuses proposals over 1.5x STSTNet's predicted cost; half of the trials mutate the incumbent
    "local-refusals": (
        ("control", "all"),
        {"sampler": "local", "relative_trial_limit": 1.5, "budget": 3, "startup_trials": 1, "max_epochs": 1},
    ),
}


@pytest.fixture(scope="module")
def scenario(
    ray_session: None, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, request: pytest.FixtureRequest
) -> Callable[[str], dict[str, Any]]:
    """``scenario(name)``: the runs of one of :data:`SCENARIOS` under each canary it needs (run on first use)."""
    runs: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in runs:
            canaries, options = SCENARIOS[name]
            root, runs[name] = tmp_path_factory.mktemp(name), {}
            for canary in canaries:
                warm = {"warm_start": request.getfixturevalue("selected")[canary]["run"]} if name == "warm-start" else {}
                run, log = search(root, canary, cache_dir, **options, **warm)
                runs[name][canary] = captured(run, {"search": log})
        return runs[name]

    return get


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


# --- the invariant ---------------------------------------------------------------------------------------------

HANDED_OVER = ("optuna", "store", "choices", "log")


def assert_same_handovers(control: dict[str, Any], corrupted: dict[str, Any], keys: tuple[str, ...] = HANDED_OVER) -> None:
    for key in keys:
        assert canonical(control[key]) == canonical(corrupted[key]), f"{key}: a value handed over depends on a test subject"


def test_racing_and_a_resumed_race_receive_nothing_of_a_test_subject(raced: dict[str, dict[str, Any]]) -> None:
    control, corrupted = raced["control"], raced["all"]
    assert_same_handovers(control, corrupted)
    assert control["test"] != corrupted["test"]
    # what the comparison saw: rung reports of 8 folds, and the stored leader a resumed race starts from
    assert any(r["status"] == "running" and len(r[FOLD_SCORES]) == 8 for r in control["log"]["first"]["scheduler"])
    assert 1 in control["log"]["resumed"]["leaders"][0]
    trials = control["optuna"]["s"][1:]
    assert all(t["intermediate"] for t in trials if t["state"] == "COMPLETE") and "PRUNED" in [t["state"] for t in trials]


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


def test_a_warm_start_hands_the_sampler_inner_scores_only(
    scenario: Callable[[str], dict[str, Any]], selected: dict[str, dict[str, Any]]
) -> None:
    (warm,) = scenario("warm-start")["control"]["log"]["search"]["warm"]
    complete = [t for t in selected["control"]["optuna"]["s"][1:] if t["state"] == "COMPLETE"]
    assert [values for _, state, values, _, _ in warm if state == "COMPLETE"] == [t["values"] for t in complete]


def test_the_local_sampler_and_refusals_were_exercised(scenario: Callable[[str], dict[str, Any]]) -> None:
    """What the local-refusals scenario compared: proposals refused before training, and mutations of an incumbent."""
    trials = scenario("local-refusals")["control"]["optuna"]["s"][1:]
    assert any(NOT_TRAINED_ATTR in t["user"] for t in trials) and any(PROPOSAL_ATTR in t["user"] for t in trials)


def test_strict_fold_studies_each_select_without_their_test_subject(scenario: Callable[[str], dict[str, Any]]) -> None:
    control = scenario("strict")["control"]
    assert len(control["optuna"]) == 3 and all(len(trials) == 3 for trials in control["optuna"].values())
    assert sorted(control["choices"]["strict"]) == [0, 1, 2]


def test_the_spotting_search_receives_nothing_of_a_test_subject(spotted: dict[str, dict[str, Any]]) -> None:
    control = spotted["control"]
    for canary in ("all", "labels"):
        for key in ("optuna", "thresholds", "objectives", "choices"):
            assert canonical(control[key]) == canonical(spotted[canary][key]), f"spotting {key} depends on a test subject"
        assert control["test_counts"] != spotted[canary]["test_counts"]
    assert [[spotted_ for _, spotted_ in t] for t in control["test"]] == [[s for _, s in t] for t in spotted["labels"]["test"]]
