"""`merauto spot`: an Optuna search over the registered spotters and their hyper-parameters, each
trial scored by nested leave-one-subject-out (:func:`merauto.evaluator.spotters.evaluate`).

Optuna sees the pooled inner F1 only; each trial's per-subject test counts go to the run's
``spot_results.json`` and, for people, to optuna-dashboard user attributes. The study lives in
the run directory (or ``--storage``), so rerunning the same command resumes it to ``--budget``.
A spotter trial runs in this process: Ray's per-trial overhead would exceed the baseline's.

It is driven as a search is: the run directory's file lock refuses a second ``spot`` on the same
folder, and the study's lease and trial heartbeats (:class:`~merauto.orchestrator.driver.DriverPresence`)
refuse a second driver of the same study from another folder; trials a killed run left running
are queued again. A new study runs each spotter's defaults first (the MEGC baseline's among them),
and the flow those trials read is computed before the first trial, with progress, and cached by
content (:class:`~merauto.evaluator.spotters.flow_bank.FlowBank`), so no trial pays for it twice.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console

from merauto.atomic import write_text_atomic
from merauto.data.cache import FeatureCache
from merauto.data.long_videos.folders import LongVideo
from merauto.evaluator.spotters import SPOTTERS, Memo, evaluate
from merauto.evaluator.spotters.flow_bank import FlowBank
from merauto.evaluator.spotting import KINDS, frames_of
from merauto.orchestrator.driver import DriverId, DriverPresence, StaleTrials
from merauto.orchestrator.spot_progress import SpotProgress
from merauto.orchestrator.study import recover_interrupted
from merauto.pipeline.registry import suggest_choice
from merauto.results.run_dir import default_storage_url
from merauto.results.run_lock import run_dir_lock
from merauto.results.spotting.store import RESULTS, SpotTrial, load_spot_trials, spot_record
from merauto.results.storage import counted_trials, open_storage


def sample_spotter(trial: optuna.Trial, spotters: list[str]) -> dict[str, Any]:
    """Define-by-run: one of ``spotters`` and its hyper-parameters, as ``{"spotter": name, **params}``."""
    component, params = suggest_choice(trial, SPOTTERS, lambda s: s.name in spotters)
    return {"spotter": component.name, **params}


def default_trial(name: str) -> dict[str, Any]:
    """The Optuna parameters of spotter ``name`` at its defaults (what :func:`sample_spotter` would name them)."""
    spotter = SPOTTERS.get(name)
    return {SPOTTERS.slot: name, **{f"{SPOTTERS.slot}.{name}.{key}": spotter.defaults[key] for key in spotter.choices}}


def waiting_gaps(study: optuna.Study, videos: list[LongVideo]) -> set[int]:
    """The flow gaps, in frames, that the study's queued trials will read."""
    gaps = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        name = trial.system_attrs.get("fixed_params", {}).get(SPOTTERS.slot)
        if name not in SPOTTERS:
            continue
        fixed = trial.system_attrs["fixed_params"]
        params = SPOTTERS.get(name).resolve({key.rpartition(".")[2]: value for key, value in fixed.items() if key != SPOTTERS.slot})
        gaps |= {frames_of(params[f"{kind}_gap_s"], fps) for kind in KINDS for fps in {v.fps for v in videos}}
    return gaps


def run_spot_search(
    videos: list[LongVideo],
    run_dir: Path,
    study_name: str,
    budget: int,
    seed: int,
    storage_url: str | None,
    console: Console,
    spotters: list[str] | None = None,
    device: str = "auto",
    canary: str | None = None,
    cache_dir: Path | None = None,
) -> list[SpotTrial]:
    """:func:`search_spots` under the run directory's lock."""
    with run_dir_lock(run_dir, RESULTS):
        return search_spots(videos, run_dir, study_name, budget, seed, storage_url, console, spotters, device, canary, cache_dir)


def search_spots(
    videos: list[LongVideo],
    run_dir: Path,
    study_name: str,
    budget: int,
    seed: int,
    storage_url: str | None,
    console: Console,
    spotters: list[str] | None = None,
    device: str = "auto",
    canary: str | None = None,
    cache_dir: Path | None = None,
) -> list[SpotTrial]:
    """Run (or resume) the spotting study over ``spotters`` (default: every registered one) to ``budget``
    counted trials, learned spotters trained on torch ``device``, flow kept under ``cache_dir`` (``None``: this
    process only); returns every finished trial. The caller holds the run directory's lock (:func:`run_dir_lock`).
    ``canary``: the leak canary (:mod:`merauto.evaluator.canary`), for tests."""
    spotters = spotters or SPOTTERS.names()
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stale = StaleTrials()
    storage = open_storage(storage_url or default_storage_url(run_dir), on_stale=stale)
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), load_if_exists=True
    )
    with DriverPresence(storage, DriverId.this_process(run_dir)) as presence:
        _, orphans = presence.claim(study, stale)  # a live driver elsewhere is refused; a dead one's trials are queued again
        recover_interrupted(study, storage, orphans)  # left running by an earlier driver of this folder, whose lock this one holds
        if not study.get_trials(deepcopy=False):
            for name in spotters:  # each spotter's defaults first: the reference every sampled trial is set beside
                study.enqueue_trial(default_trial(name))
        complete = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        trials = [t for t in load_spot_trials(run_dir) if t.number in complete]
        memo = Memo(FlowBank(FeatureCache(cache_dir) if cache_dir is not None else None))
        with SpotProgress(console, budget, len(counted_trials(study))) as progress:
            if progress.done < budget:
                memo.flows.prepare([v.frames for v in videos], waiting_gaps(study, videos), progress.flow)
            while progress.done < budget:
                with warnings.catch_warnings():  # the trial's heartbeat is recorded by DriverPresence, not Study.optimize
                    warnings.filterwarnings("ignore", message="Heartbeat of storage")
                    trial = study.ask()
                presence.track(study_name, trial.number)
                params = sample_spotter(trial, spotters)
                progress.trial_started(trial.number, params["spotter"])
                try:
                    outcome = evaluate(videos, params["spotter"], params, memo, device, canary, seed, progress.fold_done)
                except Exception as exc:  # a failed trial is recorded as failed and the search goes on
                    error = f"{type(exc).__name__}: {exc}"
                    trial.set_user_attr("error", error[:500])
                    study.tell(trial, state=TrialState.FAIL)
                    presence.untrack(study_name, trial.number)
                    progress.trial_finished(None, error)  # a failed trial counts against the budget, as in merauto search
                    continue
                for kind, counts in outcome.test().items():
                    trial.set_user_attr(f"outer_f1_{kind}", round(counts.f1, 4))
                trials.append(spot_record(trial.number, params, outcome))
                write_text_atomic(run_dir / RESULTS, json.dumps([asdict(t) for t in trials], indent=1), "the spotting results")
                study.tell(trial, outcome.objective())
                presence.untrack(study_name, trial.number)
                progress.trial_finished(outcome.objective())
    return trials
