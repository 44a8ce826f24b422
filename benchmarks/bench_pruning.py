"""Benchmark (b): a search with and without multi-fidelity pruning over fold rungs, same seed.

Runs two searches of ``--trials`` trials each on the synthetic dataset (default: the
composite-sized one: 68 subjects, so rungs of 8, 23 and 68 folds) and prints, for each:
fold-trainings (outer folds evaluated, each an inner selection plus a refit), wall time and
the best inner-validation UF1 among trials that completed every fold, plus the ratios.

    python benchmarks/bench_pruning.py --trials 60 --size composite
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.orchestrator.search import SearchOptions, run_search
from merauto.results.store import ResultsStore


def search(pruning: str, args: argparse.Namespace, root: Path) -> dict[str, float]:
    run_dir = root / pruning.replace(":", "-")
    options = SearchOptions(
        dataset=DatasetRequest("synthetic", SyntheticSpec(size=args.size)),
        run_dir=run_dir,
        study_name="bench",
        cache_dir=args.cache_dir,
        budget=args.trials,
        seed=args.seed,
        pruning=pruning,
        max_epochs=args.max_epochs,
        seed_presets=True,
    )
    started = time.perf_counter()
    run_search(options, Console(stderr=True, quiet=True))
    seconds = time.perf_counter() - started
    trials = ResultsStore(run_dir).trials("bench")
    complete = [t for t in trials if t.state == "complete"]
    return {
        "fold_trainings": sum(len(t.outcome.folds) for t in trials if t.outcome is not None),
        "seconds": seconds,
        "best_inner_uf1": max((t.objective for t in complete), default=float("nan")),
        "complete": len(complete),
        "pruned": sum(t.state == "pruned" for t in trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60, help="trials per search")
    parser.add_argument("--size", default="composite", choices=("tiny", "small", "composite"), help="synthetic dataset size")
    parser.add_argument("--max-epochs", type=int, default=80, help="upper bound of the sampled epoch limit")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by both searches")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "merauto-bench-data", help="data and input cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        plain = search("none", args, Path(root))
        pruned = search("asha:3", args, Path(root))
    print(f"synthetic-{args.size}, {args.trials} trials per search, seed {args.seed}, max epochs <= {args.max_epochs}")
    print(f"{'':<22}{'fold-trainings':>15}{'wall s':>10}{'best inner UF1':>16}{'complete':>10}{'pruned':>8}")
    for name, r in (("no pruning", plain), ("ASHA over fold rungs", pruned)):
        print(f"{name:<22}{r['fold_trainings']:>15}{r['seconds']:>10.0f}{r['best_inner_uf1']:>16.3f}{r['complete']:>10}{r['pruned']:>8}")
    print(
        f"fold-trainings ratio {plain['fold_trainings'] / pruned['fold_trainings']:.2f}x, wall-time ratio "
        f"{plain['seconds'] / pruned['seconds']:.2f}x, best inner UF1 difference {pruned['best_inner_uf1'] - plain['best_inner_uf1']:+.3f}"
    )


if __name__ == "__main__":
    main()
