"""Benchmark: does a search improve on the literature presets, and how early?

Runs ``--seed-presets`` searches of ``--trials`` trials on the synthetic dataset (default: the
composite-sized one) for each ``--startup-trials`` value (TPE samples at random until the
study holds that many trials, the enqueued presets included) and each ``--seed``. For each it
prints the best preset and the best sampled trial among those that completed every fold (inner
UF1, the selection score, and outer UF1: its pooled test predictions, each fold's model chosen on
inner validation) and the first trial number at which a sampled trial's inner UF1 beats every
preset's ("-" when none does). With ``--warm-start RUN_DIR`` each search also runs warm-started
from that earlier run's trials (its sampler learns from them; they are not trials of the search).

    python benchmarks/bench_search_quality.py --trials 40 --seed 0 --seed 1 --startup-trials 10 --startup-trials 5
    python benchmarks/bench_search_quality.py --trials 40 --seed 1 --warm-start RUN_DIR   # cold, then warm
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.search import run_search
from merauto.results.selection import eligible
from merauto.results.store import ResultsStore, StoredTrial

STUDY = "quality"


def search(startup: int, seed: int, warm: Path | None, args: argparse.Namespace, root: Path) -> tuple[list[StoredTrial], float]:
    """One search (warm-started from ``warm`` when given); its stored trials and wall seconds."""
    run_dir = root / f"startup{startup}-seed{seed}{'-warm' if warm else ''}"
    options = SearchOptions(
        dataset=DatasetRequest("synthetic", SyntheticSpec(size=args.size)),
        run_dir=run_dir,
        study_name=STUDY,
        cache_dir=args.cache_dir,
        budget=args.trials,
        seed=seed,
        pruning=args.pruning,
        refit=False,
        max_epochs=args.max_epochs,
        seed_presets=True,
        startup_trials=startup,
        warm_start=warm,
        max_trial_seconds=args.max_trial_seconds,
    )
    started = time.perf_counter()
    run_search(options, Console(stderr=True, quiet=True))
    return ResultsStore(run_dir).trials(STUDY), time.perf_counter() - started


def figures(trials: list[StoredTrial]) -> dict[str, str]:
    """Best preset, best sampled trial and the first sampled trial above every preset."""
    pool = eligible(trials)
    presets = [t for t in pool if t.preset]
    sampled = [t for t in pool if not t.preset]

    def cell(group: list[StoredTrial]) -> str:
        if not group:
            return "-"
        best = max(group, key=lambda t: (t.objective, -t.number))
        return f"#{best.number} {best.objective:.3f} / {best.outcome.test_scores()['uf1']:.3f}"

    bar = max((t.objective for t in presets), default=float("-inf"))
    first = min((t.number for t in sampled if t.objective > bar), default=None)
    return {"best preset": cell(presets), "best sampled": cell(sampled), "first above presets": "-" if first is None else f"#{first}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40, help="trials per search (the presets included)")
    parser.add_argument("--size", default="composite", choices=("tiny", "small", "composite"), help="synthetic dataset size")
    parser.add_argument("--seed", type=int, action="append", help="search seed (repeatable; default 0)")
    parser.add_argument("--startup-trials", type=int, action="append", help="TPE's random startup trials (repeatable; default 10)")
    parser.add_argument("--pruning", default="race", help="each search's --pruning (race keeps composite searches affordable)")
    parser.add_argument("--max-epochs", type=int, default=20, help="upper bound of the sampled epoch limit")
    parser.add_argument("--max-trial-seconds", type=float, default=150, help="each search's --max-trial-seconds")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "merauto-bench-data", help="data and input cache")
    parser.add_argument("--warm-start", type=Path, default=None, help="also run each search warm-started from this earlier run")
    parser.add_argument("--keep", type=Path, help="keep the run directories under this folder")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for startup in args.startup_trials or [10]:
            for seed in args.seed or [0]:
                for warm in [None, args.warm_start] if args.warm_start else [None]:
                    trials, seconds = search(startup, seed, warm, args, root)
                    start = "warm" if warm else "cold"
                    rows.append({"startup": str(startup), "seed": str(seed), "start": start, **figures(trials), "wall s": f"{seconds:.0f}"})
    print(
        f"synthetic-{args.size}, {args.trials} trials per search with the presets first, --pruning {args.pruning}, "
        f"max epochs <= {args.max_epochs}, no refit, --max-trial-seconds {args.max_trial_seconds:g}; cells: trial, inner UF1 / outer UF1"
    )
    print("".join(f"{c:>26}" for c in rows[0]))
    for row in rows:
        print("".join(f"{v:>26}" for v in row.values()))


if __name__ == "__main__":
    main()
