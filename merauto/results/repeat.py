"""`merauto repeat`: the selected pipeline's nested evaluation rerun over several seeds.

Each repetition redraws inner splits, initial weights, batch orders and dropout masks, so
the spread shows how much of a score is training noise. The scores are the same pooled
nested ones as the search's; nothing here feeds back into a selection. With ``--reproduce``
the trial first runs with the search's own seed, on inputs built as the search built them,
and must recompute the objective the search recorded.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.datasets import load_index
from merauto.data.features import inputs_for
from merauto.data.inputs import pipeline_streams
from merauto.errors import MerautoError
from merauto.evaluator.device import resolve_device
from merauto.evaluator.nested import EvalData, TrialOutcome, evaluate_trial
from merauto.evaluator.pretrain import initial_weights
from merauto.results.run_dir import load_run
from merauto.results.selection import trial_to_use
from merauto.results.store import RepeatRecord, ResultsStore, StoredTrial


@dataclass(frozen=True)
class Reproduction:
    """The trial rerun with the search's own seed: the objective the search recorded and the one recomputed."""

    seed: int
    recorded: float
    recomputed: float

    @property
    def exact(self) -> bool:
        return self.recorded == self.recomputed


@dataclass(frozen=True)
class RepeatSummary:
    """What `merauto repeat` ran: the trial, the streams its inputs were built as, and each repetition."""

    trial: int
    streams: list[str]
    records: list[RepeatRecord]
    reproduction: Reproduction | None = None

    def mean_sd(self, field: str) -> tuple[float, float]:
        values = [getattr(r, field) for r in self.records]
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def repetition_seed(search_seed: int, r: int) -> int:
    """The seed of repetition ``r`` (0-based): never the search's own, the same for repeat and confirm."""
    return search_seed + 1000 * (r + 1)


class Repeater:
    """Reruns a run's trials' nested evaluations with other seeds, on inputs built as the search built them."""

    def __init__(self, run_dir: Path, cache_dir: Path, device: str, console: Console, action: str) -> None:
        self.info = load_run(run_dir)
        if self.info.strict:
            raise MerautoError(f"{action} works on one study; this run is strict (a study per fold)", f"{action} a non-strict run")
        self.store = ResultsStore(run_dir)
        self.cache_dir = cache_dir
        self.device = resolve_device(device)
        self.console = console
        self.index = load_index(self.info.dataset, cache_dir)
        torch.set_num_threads(1)

    def evaluate(self, trial: StoredTrial, seed: int, what: str) -> TrialOutcome:
        """``trial``'s nested evaluation with ``seed``."""
        data = EvalData.of(self.index, inputs_for(trial.config, self.index, FeatureCache(self.cache_dir)))
        settings = replace(self.info.evaluation, seed=seed, device=self.device)
        with self.console.status(f"trial {trial.number}: {what} (seed {seed})"):
            return evaluate_trial(trial.config, data, settings, init=initial_weights(trial.config, settings, self.cache_dir))

    def repeat(self, trial: StoredTrial, r: int, of: int) -> RepeatRecord:
        """Repetition ``r`` of ``of`` of ``trial``, stored and printed."""
        seed = repetition_seed(self.info.evaluation.seed, r)
        outcome = self.evaluate(trial, seed, f"repetition {r + 1}/{of}")
        test = outcome.test_scores()
        record = RepeatRecord(trial.number, seed, outcome.objective(), test["uf1"], test["uar"], test["accuracy"])
        self.store.record_repeat(self.info.study_name, record, {f.selection.fold: f.selection.inner_uf1 for f in outcome.folds})
        self.console.print(
            f"trial {trial.number} seed {seed}: inner UF1 {record.inner_uf1:.3f}, outer UF1 {record.outer_uf1:.3f}, "
            f"outer UAR {record.outer_uar:.3f}"
        )
        return record


def repeat_trial(
    run_dir: Path, trial: int | None, seeds: int, cache_dir: Path, device: str, console: Console, reproduce: bool = False
) -> RepeatSummary:
    """Rerun a trial's pipeline (default: the selected one) with ``seeds`` new seeds, and with
    ``reproduce`` first with the search's own seed, to check that it recomputes the objective the
    search recorded. Only the new seeds' repetitions are stored."""
    repeater = Repeater(run_dir, cache_dir, device, console, "repeat")
    info = repeater.info
    chosen = trial_to_use(repeater.store.trials(info.study_name), trial, "repeat")
    streams = [f"{name}: {spec}" for name, spec in pipeline_streams(chosen.config).items()]
    console.print(f"trial {chosen.number}: {chosen.config.summary()}\ninputs: {'; '.join(streams)}")
    reproduction = None
    if reproduce:
        seed = info.evaluation.seed
        reproduction = Reproduction(seed, float(chosen.objective), repeater.evaluate(chosen, seed, "the search's own seed").objective())
        verdict = "reproduced exactly" if reproduction.exact else f"differs by {reproduction.recomputed - reproduction.recorded:+.2g}"
        recomputed, recorded = reproduction.recomputed, reproduction.recorded
        console.print(f"seed {seed} (the search's): inner UF1 {recomputed:.4f}, the search recorded {recorded:.4f}: {verdict}")
    records = [repeater.repeat(chosen, r, seeds) for r in range(seeds)]
    return RepeatSummary(chosen.number, streams, records, reproduction)
