"""Final estimates from stored trials: global selection and per-fold (nested) selection.

Both choose by inner-validation scores only and then read the chosen trials' stored
outer-test predictions (docs/protocol.md, "Final estimate").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from merauto.errors import MerautoError
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
    fold_members: dict[int, dict[int, int]] | None = None  # an ensemble's members per fold (fold_trials: the heaviest)

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
    """Completed trials evaluated on every outer fold, within the run's cost limits: the only ones a selection may pick."""
    complete = [t for t in trials if t.state == "complete" and t.outcome is not None and t.objective is not None and t.feasible]
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


def selected_trial(trials: list[StoredTrial]) -> StoredTrial | None:
    """The study's selected pipeline; ``None`` while no trial is eligible. What ``export`` and
    ``repeat`` take by default, and what the global selection reports.

    Before ``merauto confirm``: the eligible trial with the best objective (pooled inner-validation
    UF1). After it: the confirmed candidate with the best mean inner-validation UF1 over the
    search's seed and its repetitions. Ties go to the earlier trial; no outer score is read.
    """
    pool = eligible(trials)
    confirmed = [t for t in pool if t.confirmed]
    if confirmed:
        return max(confirmed, key=lambda t: (t.confirmed_score, -t.number))
    return best_by_search(pool)


def best_by_search(trials: list[StoredTrial]) -> StoredTrial | None:
    """The eligible trial with the best search objective (pooled inner-validation UF1), ties to the earlier one."""
    pool = eligible(trials)
    return max(pool, key=lambda t: (t.objective, -t.number)) if pool else None


def selection_rule(trial: StoredTrial) -> str:
    """How :func:`selected_trial` chose ``trial``, with the score it chose on."""
    if trial.confirmed:
        return (
            f"best mean inner-validation UF1 ({trial.confirmed_score:.3f}) over the search's seed and {len(trial.repeat_inner)} "
            f"repetitions, among the trials merauto confirm re-evaluated (search's seed alone {trial.objective:.3f})"
        )
    return f"best pooled inner-validation UF1 ({trial.objective:.3f})"


def trial_to_use(trials: list[StoredTrial], number: int | None, action: str) -> StoredTrial:
    """Trial ``number`` of ``trials``, or the selected one when ``None``, for a command to ``action``
    (export, repeat); a clear error when there is none or it has no evaluated pipeline."""
    if number is None:
        chosen = selected_trial(trials)
        if chosen is None:
            raise MerautoError(f"this run has no completed trial to {action}", "run merauto search first (or wait for a trial to finish)")
        return chosen
    chosen = next((t for t in trials if t.number == number), None)
    if chosen is None:
        raise MerautoError(f"the run has no trial {number}", "see merauto report RUN_DIR for trial numbers")
    if chosen.outcome is None or chosen.config is None:
        raise MerautoError(f"trial {number} failed ({chosen.error}); it has no pipeline to {action}", "pick a completed trial with --trial")
    return chosen


def global_selection(trials: list[StoredTrial]) -> Estimate | None:
    """The pooled outer-test predictions of :func:`selected_trial`."""
    best = selected_trial(trials)
    if best is None:
        return None
    return trial_estimate(best, "global selection", f"trial {best.number}, {selection_rule(best)}; slightly optimistic")


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


def confirmed_per_fold_selection(trials: list[StoredTrial]) -> Estimate | None:
    """Per-fold selection among the trials ``merauto confirm`` re-evaluated: for each outer fold k, the
    confirmed trial whose fold-k inner-validation UF1, averaged over the search's seed and the new
    seeds, is best. The nested estimate of the confirmed selection; ``None`` before a confirmation."""
    pool = [t for t in eligible(trials) if t.confirmed]
    if not pool:
        return None
    folds = [f.selection.fold for f in pool[0].outcome.folds]
    chosen = {fold: max(pool, key=lambda t, k=fold: (t.confirmed_fold_score(k), -t.number)) for fold in folds}
    seeds = 1 + min(len(t.repeat_fold_inner) for t in pool)
    distinct = sorted({t.number for t in chosen.values()})
    description = (
        f"nested estimate; per fold the best fold-level inner-validation UF1 over >= {seeds} seeds among the confirmed trials ({distinct})"
    )
    return pool_trials("confirmed per-fold selection", description, chosen)


def strict_selection(fold_trials: dict[int, list[StoredTrial]]) -> Estimate | None:
    """Strict mode: fold k's prediction comes from the best trial of fold k's own study.

    Each fold study's sampler only ever saw fold k's inner-validation scores.
    """
    chosen = {fold: best for fold, trials in sorted(fold_trials.items()) if (best := selected_trial(trials)) is not None}
    if not chosen:
        return None
    distinct = len({t.config.to_json() for t in chosen.values() if t.config})
    description = (
        f"independent study per outer fold ({len(chosen)}/{len(fold_trials)} folds with a complete trial; {distinct} distinct pipelines)"
    )
    return pool_trials("strict selection", description, chosen)
