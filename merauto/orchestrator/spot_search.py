"""`merauto spot`: an Optuna search over the registered spotters and their hyper-parameters, each
trial scored by nested leave-one-subject-out (:func:`merauto.evaluator.spotters.evaluate`).

Optuna sees the pooled inner F1 only; each trial's per-subject test counts go to the run's
``spot_results.json`` and, for people, to optuna-dashboard user attributes. The study lives in
the run directory (or ``--storage``), so rerunning the same command resumes it to ``--budget``.
A spotter trial takes seconds, so trials run in this process: Ray's per-trial overhead would
exceed them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from merauto.atomic import write_text_atomic
from merauto.data.long_videos import LongVideo
from merauto.evaluator.spotters import SPOTTERS, evaluate
from merauto.results.run_dir import default_storage_url
from merauto.results.spot_store import RESULTS, SpotTrial, load_spot_trials, spot_record
from merauto.spec.registry import suggest_choice


def sample_spotter(trial: optuna.Trial, spotters: list[str]) -> dict[str, Any]:
    """Define-by-run: one of ``spotters`` and its hyper-parameters, as ``{"spotter": name, **params}``."""
    component, params = suggest_choice(trial, SPOTTERS, lambda s: s.name in spotters)
    return {"spotter": component.name, **params}


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
) -> list[SpotTrial]:
    """Run (or resume) the spotting study over ``spotters`` (default: every registered one) to ``budget``
    finished trials, learned spotters trained on torch ``device``; returns every finished trial. ``canary``:
    the leak canary (:mod:`merauto.evaluator.canary`), for tests."""
    spotters = spotters or SPOTTERS.names()
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage_url or default_storage_url(run_dir)  # no heartbeat: trials run here, and a killed run's are failed below
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), load_if_exists=True
    )
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):  # left by a killed run
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
    complete = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    trials = [t for t in load_spot_trials(run_dir) if t.number in complete]
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    done = len(complete) + sum(1 for t in failed if "error" in t.user_attrs)  # interrupted trials (no error) run again
    started, before = time.monotonic(), len(trials)
    memo: dict = {}  # motion signals, flow fields and trained scorers by video and setting: trials revisit them
    columns = (
        TextColumn("spotting trials"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("trials", total=budget, completed=min(done, budget))
        while done < budget:
            trial = study.ask()
            params = sample_spotter(trial, spotters)
            try:
                outcome = evaluate(videos, params["spotter"], params, memo, device, canary, seed)
            except Exception as exc:  # a failed trial is recorded as failed and the search goes on
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                console.print(f"trial {trial.number} failed: {type(exc).__name__}: {exc}")
                done += 1  # a failed trial counts against the budget, as in merauto search
                progress.advance(task)
                continue
            test = outcome.test()
            for kind, counts in test.items():
                trial.set_user_attr(f"outer_f1_{kind}", round(counts.f1, 4))
            trials.append(spot_record(trial.number, params, outcome))
            write_text_atomic(run_dir / RESULTS, json.dumps([asdict(t) for t in trials], indent=1), "the spotting results")
            study.tell(trial, outcome.objective())
            done += 1
            progress.advance(task)
            if not console.is_terminal:  # a batch job's log: one line per trial, with an ETA
                ran = len(trials) - before
                eta = (time.monotonic() - started) / ran * (budget - done)
                best = max(t.objective for t in trials)
                console.print(
                    f"trial {trial.number} ({params['spotter']}) complete, inner F1 {outcome.objective():.3f} | {done}/{budget} done; "
                    f"best inner F1 {best:.3f}; eta {timedelta(seconds=round(eta))}",
                    soft_wrap=True,  # one line per trial, whatever the log's width
                )
    return trials
