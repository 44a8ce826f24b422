"""What the hand-over tests (``tests/test_handovers_*.py``) share: tiny searches under a canary, and
what each place where a number becomes a choice received, captured where it is received.

The leakage invariant end to end (docs/protocol.md, "The invariant, as tests"): real tiny searches
run under the ``control`` canary (every fold evaluated on its own) and under a corrupting one (every
fold's test rows corrupted inside that fold only, clean as training rows of the other folds;
:mod:`merauto.evaluator.canary`). What each hand-over received is captured where it is received: the
study's trials in Optuna's storage (what samplers and pruners read), the results each Ray Tune
scheduler compared and its decisions, the leaders a resumed race starts from, the warm-start trials
given to the sampler, the results store's records (what every selection, ``confirm``, ``repeat`` and
the ensembles read), the selections themselves, the export's config and epochs, and the spotting
search's study, thresholds and selections. They must be byte-identical, while the stored test
predictions differ. Under the ``labels`` canary even the test predictions must stay the same: only a
leak that reads test labels (an epoch or inner model picked on the test subject) changes them.

The tests are split over modules so that pytest-xdist runs them on several workers (``--dist
loadscope`` keeps each module on one); each module starts one local Ray for its searches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from conftest import TINY
from optuna.study._constrained_optimization import _CONSTRAINTS_KEY as CONSTRAINTS_KEY
from rich.console import Console

import merauto.orchestrator.tune_runner as tune_runner
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.schedulers import RacingScheduler
from merauto.orchestrator.search import run_search
from merauto.orchestrator.study import FOLD_SCORES, OBJECTIVE, RUNG
from merauto.orchestrator.warm_start import WARM_START_ATTR
from merauto.results.ensemble import global_ensemble, per_fold_ensemble
from merauto.results.run_dir import fold_study_name, load_run
from merauto.results.selection import confirmed_per_fold_selection, per_fold_selection, selected_trial, strict_selection
from merauto.results.storage import DRIVER_ATTR, LEASE_ATTR, NOT_TRAINED_ATTR, PROTOCOL_ATTR, open_storage
from merauto.results.store import ResultsStore, StoredTrial

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


def search(root: Path, canary: str, cache_dir: Path, **options: Any) -> tuple[Path, dict[str, list]]:
    """A tiny search under ``canary`` (sequential trials: the runs compared must meet the same choices in the same order).
    A proposal predicted over twice STSTNet's training time is refused (a ratio of two predictions, the
    same in every run), so each search trains small pipelines whatever the sampler proposes."""
    run = root / canary
    defaults: dict[str, Any] = {
        "budget": 3,
        "max_epochs": 2,
        "max_concurrent": 1,
        "startup_trials": 1,
        "seed": 3,
        "canary": canary,
        "relative_trial_limit": 2.0,
    }
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


HANDED_OVER = ("optuna", "store", "choices", "log")


def assert_same_handovers(control: dict[str, Any], corrupted: dict[str, Any], keys: tuple[str, ...] = HANDED_OVER) -> None:
    for key in keys:
        assert canonical(control[key]) == canonical(corrupted[key]), f"{key}: a value handed over depends on a test subject"
