"""Benchmark: ensembles of a finished search's trials against its best single trial.

Reads a run directory (no training), keeps its first ``--trials`` trials by number (a search of
that many trials) and prints, for each ``--size``, the per-fold ensemble (nested estimate)
against the per-fold selection and the global ensemble against the global selection: UF1 and
UAR with subject-bootstrap 95% intervals, the difference with a paired interval, and the
members. ``--ceiling`` adds a diagnostic that no merauto choice ever makes: the best single trial
and the greedy ensemble chosen *on the pooled test predictions themselves*, the most any
ensemble of these candidates could add, and how much the best candidates' errors overlap.

    python benchmarks/bench_ensemble.py RUN_DIR --trials 40 --size 10 --size 20 --size 50 --ceiling
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from merauto.evaluator.metrics import uf1
from merauto.results.ensemble import ensemble_rows, ensembles, greedy_selection
from merauto.results.run_dir import load_run
from merauto.results.selection import eligible
from merauto.results.store import ResultsStore, StoredTrial


def _test_probs(trial: StoredTrial) -> tuple[np.ndarray, np.ndarray]:
    folds = sorted(trial.outcome.folds, key=lambda f: f.test.fold)
    return np.concatenate([np.asarray(f.test.probs, float) for f in folds]), np.concatenate([f.test.y_true for f in folds])


def print_ceiling(trials: list[StoredTrial], size: int) -> None:
    """Test-chosen single trial and ensemble (a leak, for diagnosis only), and the top-10's error overlap."""
    pool = eligible(trials)
    n_classes = len(pool[0].outcome.classes)
    probs = [_test_probs(t)[0] for t in pool]
    y_true = _test_probs(pool[0])[1]
    singles = [uf1(y_true, p.argmax(1), n_classes) for p in probs]
    picks = greedy_selection(probs, y_true, n_classes, size)
    total = sum(count * probs[i] for i, count in picks.items())
    best = int(np.argmax(singles))
    print(
        f"ceiling (chosen on the test predictions; never a merauto choice): best single trial {pool[best].number} "
        f"UF1 {singles[best]:.3f}, greedy ensemble {uf1(y_true, total.argmax(1), n_classes):.3f} "
        f"(members {sorted(pool[i].number for i in picks)})"
    )
    top = sorted(range(len(pool)), key=lambda i: -pool[i].objective)[:10]
    wrong = [probs[i].argmax(1) != y_true for i in top]
    overlap = [(wrong[i] & wrong[j]).sum() / max(1, wrong[i].sum()) for i in range(len(top)) for j in range(len(top)) if i != j]
    accuracy = np.mean([1 - w.mean() for w in wrong])
    print(f"top {len(top)} trials by inner UF1: accuracy {accuracy:.3f}, P(another is wrong | one is wrong) {np.mean(overlap):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run directory written by merauto search (trials must store inner probabilities)")
    parser.add_argument("--trials", type=int, default=None, help="use the trials numbered below this (default: all)")
    parser.add_argument("--size", type=int, action="append", help="selection steps (repeatable; default 20)")
    parser.add_argument("--ceiling", action="store_true", help="also the test-chosen ceiling and the error overlap (diagnostic)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of whole subjects")
    args = parser.parse_args()
    info = load_run(args.run_dir)
    trials = [t for t in ResultsStore(args.run_dir).trials(info.study_name) if args.trials is None or t.number < args.trials]
    complete = sum(t.state == "complete" for t in trials)
    print(f"{args.run_dir}: {len(trials)} trials, {complete} complete")
    for size in args.size or [20]:
        for row in ensemble_rows(ensembles(trials, size, args.resamples)):
            print(f"size {size}: " + "; ".join(f"{k} {v}" for k, v in row.items()))
    if args.ceiling:
        print_ceiling(trials, max(args.size or [20]))


if __name__ == "__main__":
    main()
