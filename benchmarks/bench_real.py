"""Search quality on real data: `merauto search` with its defaults against the literature presets.

Runs ``merauto search --dataset composite --features DIR --sources casme2,smic --budget N --seed S``
(the real development data: STSTNet's flow of the composite's CASME II and SMIC-HS clips, 40
subjects; its SAMM part is held out) once per search seed, each in its own run folder, then reads
each run as ``merauto report`` does and prints: trials trained, stopped by racing, refused for
their predicted cost; wall time; the best preset and the best sampled trial (inner and outer
UF1); the nested per-fold estimate and the per-fold ensemble, each with its subject-bootstrap
interval and its paired interval against the best preset (the preset with the best *test* UF1:
an optimistic baseline, so the comparison is conservative); and the space's ceiling (the best
test-selected trial, which no honest protocol can report).

    python benchmarks/bench_real.py --budget 20 --seeds 0,1 --keep /tmp/real
    python benchmarks/bench_real.py --synthetic composite --budget 20 --seeds 0 --keep /tmp/synthetic
    python benchmarks/bench_real.py --bagging ststnet --max-epochs 40   # seed bagging of one preset: K=1 against K=3

Options after ``--`` go to ``merauto search`` unchanged (e.g. ``-- --pruning none``).
The data is read where it lies (``--features DIR``: STSTNet's flow folder, docs/datasets.md); nothing is copied. The
default ``--features`` is the maintainers' development copy beside the repository, which a clone does not hold.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

REAL_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-dev" / "stst-flow-casme2-smic"


def _dataset_args(args: argparse.Namespace) -> list[str]:
    if args.synthetic:
        return ["--dataset", "synthetic", "--synthetic-size", args.synthetic]
    return ["--dataset", "composite", "--features", str(args.features), "--sources", "casme2,smic"]


def _interval(value: float, low_high: tuple[float, float]) -> str:
    return f"{value:.3f} [{low_high[0]:.3f}, {low_high[1]:.3f}]"


def _difference(low_high: tuple[float, float], value: float) -> str:
    return f"{value:+.3f} [{low_high[0]:+.3f}, {low_high[1]:+.3f}]"


def summarise_run(run_dir: Path, wall_s: float) -> dict[str, str]:
    """One row of figures for a finished search's run folder."""
    from merauto.evaluator.metrics import paired_subject_bootstrap, uf1
    from merauto.results.report.summary import build_report
    from merauto.results.run_dir import load_run
    from merauto.results.storage import NOT_TRAINED_ATTR, open_storage

    report = build_report(run_dir)
    info = load_run(run_dir)
    study = optuna.load_study(study_name=info.study_name, storage=open_storage(info.storage_url))
    refused = sum(NOT_TRAINED_ATTR in t.user_attrs for t in study.trials)
    complete = [t for t in report.trials if t.state == "complete"]
    raced = [t for t in report.trials if t.state == "pruned" and t.outcome is not None]
    presets = [e for e in report.estimates if e.name.startswith("preset ")]
    best_preset = max(presets, key=lambda e: e.scores["uf1"]) if presets else None
    sampled = [t for t in complete if not t.preset]
    best_sampled = max(sampled, key=lambda t: t.objective) if sampled else None
    preset_trials = [t for t in complete if t.preset]
    best_preset_inner = max((t.objective for t in preset_trials), default=float("nan"))
    row = {
        "run": run_dir.name,
        "wall": f"{wall_s / 60:.0f} min",
        "trained": str(len(complete)),
        "raced out": f"{len(raced)} (after {sorted({len(t.outcome.folds) for t in raced})} folds)" if raced else "0",
        "refused": str(refused),
        "failed": str(sum(t.state == "failed" for t in report.trials)),
        "best preset (test UF1)": f"{best_preset.name[7:]} {best_preset.scores['uf1']:.3f}" if best_preset else "-",
        "best preset inner": f"{best_preset_inner:.3f}",
        "best sampled inner / outer": (
            f"{best_sampled.objective:.3f} / {best_sampled.outcome.test_scores()['uf1']:.3f}" if best_sampled else "-"
        ),
        "ceiling (best test-selected trial)": f"{max(t.outcome.test_scores()['uf1'] for t in complete):.3f}" if complete else "-",
    }
    for name in ("per-fold selection", "per-fold ensemble"):
        estimate = report.estimate(name)
        if estimate is None:
            continue
        row[name] = _interval(estimate.scores["uf1"], report.intervals[name]["uf1"])
        if best_preset is not None:
            assert np.array_equal(estimate.y_true, best_preset.y_true), "estimates pool the folds in the same order"
            paired = paired_subject_bootstrap(
                estimate.y_true, estimate.y_pred, best_preset.y_pred, estimate.subjects, len(estimate.classes)
            )
            n = len(estimate.classes)
            gain = uf1(estimate.y_true, estimate.y_pred, n) - uf1(best_preset.y_true, best_preset.y_pred, n)
            row[f"{name} - best preset"] = _difference(paired["uf1"], gain)
    return row


def run_searches(args: argparse.Namespace, extra: list[str]) -> None:
    """Each seed's search, then the table."""
    keep = Path(args.keep or tempfile.mkdtemp(prefix="bench-real-"))
    rows = []
    for seed in args.seeds.split(","):
        run_dir = keep / f"seed-{seed}"
        command = [sys.executable, "-m", "merauto", "search", *_dataset_args(args), "--budget", str(args.budget), "--seed", seed]
        command += ["--run-dir", str(run_dir), *extra]
        print("$", " ".join(command), flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        rows.append(summarise_run(run_dir, time.perf_counter() - started))
    for row in rows:
        print()
        for key, value in row.items():
            print(f"{key:<38}{value}")


def bagging(args: argparse.Namespace) -> None:
    """One preset evaluated with K=1 and K=3 seeds per fold (nested LOSO, same evaluation seed), paired."""
    import torch

    from merauto.data.cache import FeatureCache, default_cache_dir
    from merauto.data.datasets import DatasetRequest, load_index
    from merauto.data.features import inputs_for
    from merauto.data.synthetic.generator import SyntheticSpec
    from merauto.evaluator.metrics import paired_subject_bootstrap, subject_bootstrap, uf1
    from merauto.evaluator.nested import EvalData, evaluate_trial
    from merauto.evaluator.settings import EvaluationSettings
    from merauto.search_space.presets import PRESETS

    torch.set_num_threads(1)
    if args.synthetic:
        request = DatasetRequest("synthetic", SyntheticSpec(size=args.synthetic))
    else:
        request = DatasetRequest("composite", features=args.features, sources=("casme2", "smic"))
    index = load_index(request, default_cache_dir())
    preset = PRESETS[args.bagging]
    predictions = {}
    for seeds in (1, 3):
        config = replace(
            preset, training=replace(preset.training, max_epochs=min(args.max_epochs, preset.training.max_epochs), seeds=seeds)
        )
        data = EvalData.of(index, inputs_for(config, index, FeatureCache(default_cache_dir())))
        started = time.perf_counter()
        outcome = evaluate_trial(config, data, EvaluationSettings(seed=args.eval_seed))
        y_true, y_pred, _ = outcome.test_pooled()
        subjects = np.concatenate([f.test.subjects for f in outcome.folds])
        low_high = subject_bootstrap(y_true, y_pred, subjects, uf1, data.n_classes)
        print(
            f"{args.bagging} seeds={seeds}: UF1 {_interval(uf1(y_true, y_pred, data.n_classes), low_high)}, "
            f"inner UF1 {outcome.objective():.3f}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        predictions[seeds] = (y_true, y_pred, subjects)
    (y_true, one, subjects), (_, three, _) = predictions[1], predictions[3]
    paired = paired_subject_bootstrap(y_true, three, one, subjects, data.n_classes)
    gain = uf1(y_true, three, data.n_classes) - uf1(y_true, one, data.n_classes)
    print(f"seeds=3 - seeds=1: UF1 {_difference(paired['uf1'], gain)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=REAL_DEV, help="the real-dev flow folder")
    parser.add_argument("--synthetic", default=None, help="a synthetic size instead of the real data (tiny, small, composite)")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--seeds", default="0,1", help="search seeds, comma-separated")
    parser.add_argument("--keep", default=None, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--bagging", default=None, metavar="PRESET", help="instead of searching: the preset with 1 and 3 seeds per fold")
    parser.add_argument("--max-epochs", type=int, default=60, help="--bagging: the preset's epoch cap")
    parser.add_argument("--eval-seed", type=int, default=0, help="--bagging: the evaluation seed")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.bagging:
        bagging(args)
    else:
        run_searches(args, extra)


if __name__ == "__main__":
    main()
