"""Soak: kill -9 the search driver at random moments, rerun the same command, and count.

A search of ``--trials`` trials on the tiny synthetic set is started ``--kills`` times and
killed with SIGKILL after a random delay each time (uniform in ``--window`` seconds: during
start-up, sampling, training, or while results are stored), then run once more to the end.
Printed: each kill's moment and the trials then running, and at the end the counted trials,
those counted twice, those whose results were lost, and records stored for trials that do not
count. A sound run prints M, 0, 0, 0.

    python benchmarks/soak_kill.py --trials 10 --kills 15 --window 3 30
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from merauto.results.integrity import check_integrity
from merauto.results.run_dir import load_run
from merauto.results.store import ResultsStore


def _states(run_dir: Path) -> dict[str, int]:
    try:
        study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    except Exception:  # noqa: BLE001 - not created yet
        return {}
    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials) for state in (TrialState.RUNNING, TrialState.COMPLETE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8, help="the search's budget")
    parser.add_argument("--kills", type=int, default=12, help="how many times the driver is killed")
    parser.add_argument("--window", type=float, nargs=2, default=(2.0, 40.0), help="seconds after start at which a kill falls")
    parser.add_argument("--max-epochs", type=int, default=20, help="bound on each trial's epochs (longer trials: more kills mid-trial)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the run (default: a temporary one)")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="merauto-soak-"))
    run_dir, cache = root / "run", root / "cache"
    search = ["search", "--synthetic-size", "tiny", "--max-epochs", str(args.max_epochs), "--budget", str(args.trials), "--seed-presets"]
    command = [sys.executable, "-m", "merauto", *search, "--run-dir", str(run_dir), "--cache-dir", str(cache)]
    rng = random.Random(args.seed)
    started = time.perf_counter()
    print("| kill | after (s) | trials running | trials complete |\n|---:|---:|---:|---:|")
    for kill in range(1, args.kills + 1):
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        delay = rng.uniform(*args.window)
        try:
            driver.wait(timeout=delay)
            print(f"| {kill} | - | the search finished before its kill at {delay:.1f} s | |")
        except subprocess.TimeoutExpired:
            states = _states(run_dir)
            driver.kill()
            driver.wait()
            print(f"| {kill} | {delay:.1f} | {states.get('running', 0)} | {states.get('complete', 0)} |")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = load_run(run_dir)
    study = optuna.load_study(study_name=info.study_name, storage=info.storage_url)
    integrity = check_integrity(study, ResultsStore(run_dir).trials(info.study_name))
    print(
        f"\n{args.kills} kills over a search of {args.trials} trials ({time.perf_counter() - started:.0f} s): "
        f"counted {integrity.counted}, counted twice {len(integrity.counted_twice)}, lost {len(integrity.lost)}, "
        f"stray records {len(integrity.stray)}, left running {len(integrity.running)}; {len(study.trials)} trials in the study"
    )


if __name__ == "__main__":
    main()
