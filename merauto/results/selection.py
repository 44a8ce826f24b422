"""Final estimates from stored trials: global selection and per-fold (nested) selection.

Both choose by inner-validation scores only and then read the chosen trials' stored
outer-test predictions (shared/docs/protocol.md, "Final estimate").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from merauto.evaluator.metrics import scores, scores_by_group, subject_bootstrap, uar, uf1
from merauto.results.store import StoredTrial


@dataclass(frozen=True)
class Estimate:
    """Pooled outer-test predictions of a selection rule, with their scores."""

    name: str
    description: str
    fold_trials: dict[int, int]
    y_true: np.ndarray
    y_pred: np.ndarray
    subjects: np.ndarray
    sources: np.ndarray
    classes: tuple[str, ...]

    @property
    def scores(self) -> dict:
        return scores(self.y_true, self.y_pred, len(self.classes))

    @property
    def by_source(self) -> dict[str, dict]:
        return scores_by_group(self.y_true, self.y_pred, self.sources, len(self.classes))

    def interval(self, metric: Callable[[np.ndarray, np.ndarray, int], float], n_resamples: int = 1000) -> tuple[float, float]:
        """Subject-level bootstrap 95% interval."""
        return subject_bootstrap(self.y_true, self.y_pred, self.subjects, metric, len(self.classes), n_resamples)

    def intervals(self) -> dict[str, tuple[float, float]]:
        return {"uf1": self.interval(uf1), "uar": self.interval(uar)}


def eligible(trials: list[StoredTrial]) -> list[StoredTrial]:
    """Completed trials evaluated on every outer fold: the only ones a selection may pick."""
    complete = [t for t in trials if t.state == "complete" and t.outcome is not None and t.objective is not None]
    if not complete:
        return []
    n_folds = max(len(t.outcome.folds) for t in complete)
    return [t for t in complete if len(t.outcome.folds) == n_folds]


def pool_trials(name: str, description: str, chosen: dict[int, StoredTrial]) -> Estimate:
    """Pool fold k's test predictions of ``chosen[k]`` over the folds."""
    true, pred, subjects, sources = [], [], [], []
    classes: tuple[str, ...] = ()
    for fold, trial in sorted(chosen.items()):
        outcome = trial.outcome
        classes = outcome.classes
        test = next(f.test for f in outcome.folds if f.test.fold == fold)
        true += test.y_true
        pred += test.y_pred
        subjects += test.subjects
        sources += test.sources
    return Estimate(
        name,
        description,
        {k: t.number for k, t in chosen.items()},
        np.array(true, int),
        np.array(pred, int),
        np.array(subjects),
        np.array(sources),
        classes,
    )


def trial_estimate(trial: StoredTrial, name: str, description: str) -> Estimate:
    """One trial's pooled outer-test predictions over all its folds."""
    return pool_trials(name, description, {f.test.fold: trial for f in trial.outcome.folds})


def global_selection(trials: list[StoredTrial]) -> Estimate | None:
    """The trial with the best objective (pooled inner-validation UF1); ties go to the earlier trial."""
    pool = eligible(trials)
    if not pool:
        return None
    best = max(pool, key=lambda t: (t.objective, -t.number))
    return trial_estimate(
        best, "global selection", f"trial {best.number}, best pooled inner-validation UF1 ({best.objective:.3f}); slightly optimistic"
    )


def per_fold_selection(trials: list[StoredTrial]) -> Estimate | None:
    """For each outer fold k, the trial whose fold-k inner-validation UF1 is best (the nested estimate).

    Only fold k's own inner scores are read for fold k; ties go to the earlier trial.
    """
    pool = eligible(trials)
    if not pool:
        return None
    inner = {t.number: {f.selection.fold: f.selection.inner_uf1 for f in t.outcome.folds} for t in pool}
    chosen = {
        fold: max(pool, key=lambda t, k=fold: (inner[t.number][k], -t.number)) for fold in (f.selection.fold for f in pool[0].outcome.folds)
    }
    distinct = sorted({t.number for t in chosen.values()})
    return pool_trials(
        "per-fold selection", f"nested estimate; per fold the best fold-level inner-validation UF1 (trials {distinct})", chosen
    )


def strict_selection(fold_trials: dict[int, list[StoredTrial]]) -> Estimate | None:
    """Strict mode: fold k's prediction comes from the best trial of fold k's own study.

    Each fold study's sampler only ever saw fold k's inner-validation scores.
    """
    chosen = {}
    for fold, trials in sorted(fold_trials.items()):
        pool = [t for t in trials if t.state == "complete" and t.objective is not None]
        if pool:
            chosen[fold] = max(pool, key=lambda t: (t.objective, -t.number))
    if not chosen:
        return None
    distinct = len({t.config.to_json() for t in chosen.values() if t.config})
    description = (
        f"independent study per outer fold ({len(chosen)}/{len(fold_trials)} folds with a complete trial; {distinct} distinct pipelines)"
    )
    return pool_trials("strict selection", description, chosen)
