"""What ``--audit`` costs, and what the audit shows, on the composite-sized synthetic set.

Each preset is evaluated twice in this process with the same seed: the plain nested evaluation
(the baseline) and the same evaluation with ``audit=True``, which also trains every fold's test
model to the preset's maximum epochs and predicts the test subject after each epoch. The table
gives both wall times and their ratio, then what each epoch-level protocol would report for
that preset against its honest (inner-validation-stopped) predictions, with paired
subject-bootstrap intervals.

    python benchmarks/audit_overhead.py --size composite --presets ststnet,off_apexnet
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import inputs_for
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.nested import EvalData, TrialOutcome, evaluate_trial
from merauto.evaluator.settings import EvaluationSettings
from merauto.results.audit import ALL_SOURCES, audit_study
from merauto.results.store import StoredTrial
from merauto.search_space.presets import PRESETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="composite", help="synthetic size: tiny, small or composite")
    parser.add_argument("--presets", default="ststnet", help="comma-separated preset names")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the presets' maximum epochs (default: theirs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amplitude", type=float, default=None, help="synthetic micro-expression amplitude (difficulty)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = SyntheticSpec(size=args.size) if args.amplitude is None else SyntheticSpec(size=args.size, amplitude=args.amplitude)
    cache = Path(os.environ.get("MERAUTO_CACHE", Path.home() / ".cache" / "merauto"))
    index = load_index(DatasetRequest("synthetic", spec), cache)
    print(f"synthetic-{args.size}: {len(index)} clips, {len(set(index.subjects))} subjects; one torch thread; seed {args.seed}")
    print(f"{'preset':<16}{'epochs':>7}{'plain s':>10}{'audit s':>10}{'overhead':>10}   honest UF1 | last epoch | best test epoch")
    for number, name in enumerate(args.presets.split(",")):
        config = PRESETS[name]
        if args.max_epochs:
            config = replace(config, training=replace(config.training, max_epochs=min(args.max_epochs, config.training.max_epochs)))
        data = EvalData.of(index, inputs_for(config, index, FeatureCache(cache)))
        settings = EvaluationSettings(seed=args.seed)
        started = time.perf_counter()
        evaluate_trial(config, data, settings)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        outcome = evaluate_trial(config, data, replace(settings, audit=True))
        audited = time.perf_counter() - started
        trial = StoredTrial(number, "complete", name, config, outcome.objective(), None, audited, None, outcome)
        honest, last, best = audit_study([trial]).candidates[0].protocols
        print(
            f"{name:<16}{config.training.max_epochs:>7}{plain:>10.1f}{audited:>10.1f}{audited / plain - 1:>+10.1%}   "
            f"{honest.uf1[ALL_SOURCES]:.3f} | {last.uf1[ALL_SOURCES]:.3f} {last.uf1_difference[ALL_SOURCES]} | "
            f"{best.uf1[ALL_SOURCES]:.3f} {best.uf1_difference[ALL_SOURCES]}"
        )
        epochs = sorted(f.selection.best_epoch for f in outcome.folds)
        plain_rows, extra_rows = training_rows(outcome, len(index), config.training.max_epochs)
        print(
            f"{'':<16}selected epochs per fold: median {epochs[len(epochs) // 2]}, range {epochs[0]}-{epochs[-1]}; "
            f"training rows x epochs {plain_rows} plain, +{extra_rows / plain_rows:.1%} with --audit (load-independent)"
        )


def training_rows(outcome: TrialOutcome, n_clips: int, max_epochs: int) -> tuple[int, int]:
    """Rows trained on, summed over epochs and models: the plain evaluation's (inner models for the epochs
    they ran, refits for the selected epochs) and what --audit adds (refits from the selected to the maximum epochs)."""
    plain = extra = 0
    for fold in outcome.folds:
        train = n_clips - len(fold.test.ids)
        plain += len(fold.selection.inner_curve) * (train - len(fold.selection.inner_ids)) + fold.selection.best_epoch * train
        extra += (max_epochs - fold.selection.best_epoch) * train
    return plain, extra


if __name__ == "__main__":
    main()
