"""Benchmark (b): a search with and without multi-fidelity pruning over fold rungs, same seed.

Runs searches of ``--trials`` trials each on the synthetic dataset (default: the
composite-sized one: 68 subjects, so rungs of 5, 17 and 68 folds): one per ``--pruning``
scheme (default ``race`` and ``asha:4``, run first) and one without pruning. It prints, for
each: fold-trainings (outer folds evaluated, each an inner selection plus a refit), wall time
and the best inner-validation UF1 among trials that completed every fold, plus the ratios.
``--max-trial-seconds`` is passed to both: a sampled pipeline predicted to train longer is not
trained (counted apart, as "not trained"). The cost model's error is printed for each search:
median and 90th percentile of |predicted/actual - 1| over the trials that trained every fold.

It also prints how well the first rung predicts the all-fold score: over the unpruned
search's trials, the rank correlation between the pooled inner UF1 on the first rung's folds
and on every fold. ``--keep DIR`` keeps both run directories (``merauto report --run-dir``).

    python benchmarks/bench_pruning.py --trials 60 --size composite --pruning race --pruning asha:4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from rich.console import Console
from scipy.stats import spearmanr

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.metrics import uf1
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.search import run_search
from merauto.results.storage import RUNGS_ATTR
from merauto.results.store import ResultsStore, StoredTrial

STUDY = "bench"


def search(pruning: str, args: argparse.Namespace, root: Path) -> tuple[dict[str, float], list[StoredTrial]]:
    """Run one search; its figures and its stored trials."""
    run_dir = root / pruning.replace(":", "-")
    options = SearchOptions(
        dataset=DatasetRequest("synthetic", SyntheticSpec(size=args.size)),
        run_dir=run_dir,
        study_name=STUDY,
        cache_dir=args.cache_dir,
        budget=args.trials,
        seed=args.seed,
        pruning=pruning,
        refit=args.refit,
        max_epochs=args.max_epochs,
        seed_presets=True,
        max_trial_seconds=args.max_trial_seconds,
    )
    started = time.perf_counter()
    run_search(options, Console(stderr=True, quiet=True))
    seconds = time.perf_counter() - started
    store = ResultsStore(run_dir)
    trials = store.trials(STUDY)
    complete = [t for t in trials if t.state == "complete"]
    numbers = {t.number for t in complete}
    errors = [abs(t.predicted_s / t.train_s - 1) for t in store.timings(STUDY) if t.number in numbers and t.train_s]
    figures = {
        "fold_trainings": sum(len(t.outcome.folds) for t in trials if t.outcome is not None),
        "seconds": seconds,
        "best_inner_uf1": max((t.objective for t in complete), default=float("nan")),
        "complete": len(complete),
        "pruned": sum(t.state == "pruned" and t.outcome is not None for t in trials),
        "not_trained": sum(t.state == "pruned" and t.outcome is None for t in trials),
        "failed": sum(t.state == "failed" for t in trials),
        "error_median": float(np.median(errors)) if errors else float("nan"),
        "error_p90": float(np.percentile(errors, 90)) if errors else float("nan"),
    }
    return figures, trials


def first_rung(run_dir: Path) -> list[int]:
    """The folds of a pruned search's first rung (fixed per study, a study attribute)."""
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{run_dir / 'study.db'}")
    return study.user_attrs[RUNGS_ATTR][0]


def rung_fidelity(trials: list[StoredTrial], rung: list[int]) -> tuple[float, int]:
    """Spearman correlation of first-rung and all-fold inner UF1 over complete trials."""
    pairs = []
    for trial in trials:
        if trial.state != "complete" or trial.outcome is None:
            continue
        folds = [f.selection for f in trial.outcome.folds if f.selection.fold in set(rung)]
        true = np.concatenate([s.inner_true for s in folds])
        pred = np.concatenate([s.inner_pred for s in folds])
        pairs.append((uf1(true, pred, len(trial.outcome.classes)), trial.objective))
    if len(pairs) < 3:
        return float("nan"), len(pairs)
    return float(spearmanr(*zip(*pairs, strict=True)).statistic), len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60, help="trials per search")
    parser.add_argument("--size", default="composite", choices=("tiny", "small", "composite"), help="synthetic dataset size")
    parser.add_argument("--pruning", action="append", help="a pruned search's --pruning (repeatable; default: race and asha:4)")
    parser.add_argument("--max-epochs", type=int, default=80, help="upper bound of the sampled epoch limit")
    parser.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True, help="refit per fold (inner UF1 unaffected)")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by both searches")
    parser.add_argument(
        "--max-trial-seconds", type=float, default=None, help="both searches' --max-trial-seconds (predicted training time)"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "merauto-bench-data", help="data and input cache")
    parser.add_argument("--keep", type=Path, help="keep both run directories under this folder")
    args = parser.parse_args()
    schemes = args.pruning or ["race", "asha:4"]
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        pruned = {scheme: search(scheme, args, root)[0] for scheme in schemes}  # first: a broken scheme fails early
        plain, plain_trials = search("none", args, root)
        rung = first_rung(root / schemes[0].replace(":", "-"))
    refit = "refit" if args.refit else "no refit"
    limit = "" if args.max_trial_seconds is None else f", --max-trial-seconds {args.max_trial_seconds:g}"
    print(f"synthetic-{args.size}, {args.trials} trials per search, seed {args.seed}, max epochs <= {args.max_epochs}, {refit}{limit}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    header = ("fold-trainings", "wall s", "best inner UF1", "complete", "pruned", "not trained", "failed", "cost err median", "p90")
    print(f"{'':<18}" + "".join(f"{h:>16}" for h in header))
    for name, r in (("no pruning", plain), *pruned.items()):
        cells = (r["fold_trainings"], f"{r['seconds']:.0f}", f"{r['best_inner_uf1']:.3f}", r["complete"], r["pruned"], r["not_trained"])
        cells += (r["failed"], f"{r['error_median']:.2f}", f"{r['error_p90']:.2f}")
        print(f"{name:<18}" + "".join(f"{c!s:>16}" for c in cells))
    for scheme, r in pruned.items():
        print(
            f"{scheme}: fold-trainings ratio {plain['fold_trainings'] / r['fold_trainings']:.2f}x, wall-time ratio "
            f"{plain['seconds'] / r['seconds']:.2f}x, best inner UF1 difference {r['best_inner_uf1'] - plain['best_inner_uf1']:+.3f}"
        )
    rho, n = rung_fidelity(plain_trials, rung)
    print(f"first rung ({len(rung)} folds) vs all folds, unpruned trials: Spearman {rho:.2f} over {n} trials")


if __name__ == "__main__":
    main()
