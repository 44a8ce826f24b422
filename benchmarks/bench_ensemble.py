"""Benchmark: ensembles of a finished search's trials against its best single trial.

Reads a run directory (no training), keeps its first ``--trials`` trials by number (a search of
that many trials) and prints, for each ``--size``, the per-fold ensemble (nested estimate)
against the per-fold selection and the global ensemble against the global selection: UF1 and
UAR with subject-bootstrap 95% intervals, the difference with a paired interval, and the
members.

    python benchmarks/bench_ensemble.py RUN_DIR --trials 40 --size 10 --size 20 --size 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

from merauto.results.ensemble import ensemble_rows, ensembles
from merauto.results.run_dir import load_run
from merauto.results.store import ResultsStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run directory written by merauto search (trials must store inner probabilities)")
    parser.add_argument("--trials", type=int, default=None, help="use the trials numbered below this (default: all)")
    parser.add_argument("--size", type=int, action="append", help="selection steps (repeatable; default 20)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of whole subjects")
    args = parser.parse_args()
    info = load_run(args.run_dir)
    trials = [t for t in ResultsStore(args.run_dir).trials(info.study_name) if args.trials is None or t.number < args.trials]
    complete = sum(t.state == "complete" for t in trials)
    print(f"{args.run_dir}: {len(trials)} trials, {complete} complete")
    for size in args.size or [20]:
        for row in ensemble_rows(ensembles(trials, size, args.resamples)):
            print(f"size {size}: " + "; ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
