"""`merauto repeat`: the selected pipeline's nested evaluation rerun over several seeds.

Each repetition redraws inner splits, initial weights, batch orders and dropout masks, so
the spread shows how much of a score is training noise. The scores are the same pooled
nested ones as the search's; nothing here feeds back into a selection.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.datasets import load_index
from merauto.data.features import FeatureBuilder
from merauto.errors import MerautoError
from merauto.evaluator.device import resolve_device
from merauto.evaluator.nested import EvalData, evaluate_trial
from merauto.evaluator.pretrain import initial_weights
from merauto.results.run_dir import load_run
from merauto.results.selection import global_selection
from merauto.results.store import RepeatRecord, ResultsStore


@dataclass(frozen=True)
class RepeatSummary:
    trial: int
    records: list[RepeatRecord]

    def mean_sd(self, field: str) -> tuple[float, float]:
        values = [getattr(r, field) for r in self.records]
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def repeat_trial(run_dir: Path, trial: int | None, seeds: int, cache_dir: Path, device: str, console: Console) -> RepeatSummary:
    """Rerun a trial's pipeline (default: the global selection) with ``seeds`` new seeds."""
    if seeds < 1:
        raise MerautoError(f"--seeds {seeds}: need at least one repetition", "pass e.g. --seeds 5")
    info = load_run(run_dir)
    if info.strict:
        raise MerautoError("repeat works on one study; this run is strict (a study per fold)", "repeat a non-strict run")
    store = ResultsStore(run_dir)
    trials = store.trials(info.study_name)
    if trial is None:
        estimate = global_selection(trials)
        if estimate is None:
            raise MerautoError("this run has no completed trial to repeat", "run merauto search first")
        trial = next(iter(estimate.fold_trials.values()))
    chosen = next((t for t in trials if t.number == trial and t.state == "complete"), None)
    if chosen is None:
        raise MerautoError(f"the run has no complete trial {trial}", "see merauto report RUN_DIR for trial numbers")

    index = load_index(info.dataset, cache_dir)
    inputs = FeatureBuilder(index, FeatureCache(cache_dir)).inputs(chosen.config.input.name, chosen.config.input.params)
    data = EvalData.of(index, inputs)
    torch.set_num_threads(1)
    records = []
    for r in range(seeds):
        seed = info.evaluation.seed + 1000 * (r + 1)  # never the search's own seed
        settings = replace(info.evaluation, seed=seed, device=resolve_device(device))
        with console.status(f"trial {trial}: repetition {r + 1}/{seeds} (seed {seed})"):
            outcome = evaluate_trial(chosen.config, data, settings, init=initial_weights(chosen.config, settings, cache_dir))
        test = outcome.test_scores()
        record = RepeatRecord(trial, seed, outcome.objective(), test["uf1"], test["uar"], test["accuracy"])
        store.record_repeat(info.study_name, record)
        records.append(record)
        console.print(f"seed {seed}: inner UF1 {record.inner_uf1:.3f}, outer UF1 {record.outer_uf1:.3f}, outer UAR {record.outer_uar:.3f}")
    return RepeatSummary(trial, records)
