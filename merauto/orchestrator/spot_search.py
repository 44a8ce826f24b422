"""`merauto spot`: an Optuna search over the baseline spotter's hyper-parameters, each trial
scored by nested leave-one-subject-out (:func:`merauto.evaluator.spotting.evaluate_spotter`).

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

import optuna
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from merauto.atomic import write_text_atomic
from merauto.data.long_videos import LongVideo
from merauto.evaluator.spotting import SpotterParams, evaluate_spotter
from merauto.results.run_dir import default_storage_url
from merauto.results.spot_store import RESULTS, SpotTrial, load_spot_trials, spot_record

MICRO_GAPS_S = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)  # grids, so raw signals repeat across trials
MACRO_GAPS_S = (0.8, 1.0, 1.5, 2.0, 2.5, 3.0)
TOPS = (0.01, 0.02, 0.05, 0.1, 0.2)


def sample_params(trial: optuna.Trial) -> SpotterParams:
    """Define-by-run space of the two-scale baseline spotter (micro-expressions stay at most 0.5 s, MEGC's definition)."""
    return SpotterParams(
        top=trial.suggest_categorical("top", TOPS),
        micro_gap_s=trial.suggest_categorical("micro_gap_s", MICRO_GAPS_S),
        micro_smooth_s=round(trial.suggest_float("micro_smooth_s", 0.03, 0.15, step=0.01), 2),
        macro_gap_s=trial.suggest_categorical("macro_gap_s", MACRO_GAPS_S),
        macro_smooth_s=round(trial.suggest_float("macro_smooth_s", 0.1, 0.5, step=0.05), 2),
        distance_s=round(trial.suggest_float("distance_s", 0.2, 1.5, step=0.1), 2),
    )


def run_spot_search(
    videos: list[LongVideo], run_dir: Path, study_name: str, budget: int, seed: int, storage_url: str | None, console: Console
) -> list[SpotTrial]:
    """Run (or resume) the spotting study to ``budget`` finished trials; returns every finished trial."""
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
    memo: dict = {}  # raw motion signals by video, gap and statistic: trials revisit them
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
            params = sample_params(trial)
            try:
                outcome = evaluate_spotter(videos, params, memo)
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
            trials.append(spot_record(trial.number, asdict(params), outcome))
            write_text_atomic(run_dir / RESULTS, json.dumps([asdict(t) for t in trials], indent=1), "the spotting results")
            study.tell(trial, outcome.objective())
            done += 1
            progress.advance(task)
            if not console.is_terminal:  # a batch job's log: one line per trial, with an ETA
                ran = len(trials) - before
                eta = (time.monotonic() - started) / ran * (budget - done)
                best = max(t.objective for t in trials)
                console.print(
                    f"trial {trial.number} complete, inner F1 {outcome.objective():.3f} | {done}/{budget} done; "
                    f"best inner F1 {best:.3f}; eta {timedelta(seconds=round(eta))}"
                )
    return trials
