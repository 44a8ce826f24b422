"""Nested leave-one-subject-out evaluation of one candidate pipeline (shared/docs/protocol.md).

For each outer fold k (test subject s_k), models are trained on inner-training subjects and
scored on inner-validation subjects, both drawn from the other subjects only; the epoch count
comes from the pooled inner-validation UF1 curve. The test subject's rows are touched once,
to predict them, after everything for fold k has been chosen. The objective is computed from
inner-validation predictions only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from merauto.evaluator.metrics import scores, scores_by_group, uf1
from merauto.evaluator.protocol import InnerSpec, inner_splits, outer_loso
from merauto.evaluator.training import Inputs, Learner
from merauto.search_space.config import PipelineConfig


@dataclass(frozen=True)
class EvalData:
    """Everything the evaluator reads: inputs by stream (N, C, H, W) and per-row metadata."""

    inputs: Inputs
    labels: np.ndarray
    subjects: np.ndarray
    sources: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class EvaluationSettings:
    """Protocol settings shared by every trial of a study."""

    inner: InnerSpec = InnerSpec("holdout", 0.25)
    refit: bool = True
    seed: int = 0
    device: str = "cpu"


@dataclass
class FoldSelection:
    """Every fold-k quantity a selection step may read. None of it may depend on subject k."""

    fold: int
    test_subject: str
    inner_curve: list[float]
    best_epoch: int
    inner_ids: list[str]
    inner_true: list[int]
    inner_pred: list[int]
    inner_uf1: float
    inner_uar: float
    fitted: list[dict[str, Any]]


@dataclass
class FoldTest:
    """Fold k's predictions of its test subject: stored, never shown to the sampler or pruner."""

    fold: int
    test_subject: str
    ids: list[str]
    sources: list[str]
    y_true: list[int]
    y_pred: list[int]
    probs: list[list[float]]


@dataclass
class FoldOutcome:
    selection: FoldSelection
    test: FoldTest
    seconds: float


@dataclass
class TrialOutcome:
    """All folds of one candidate, with the pooled scores derived from them."""

    classes: tuple[str, ...]
    folds: list[FoldOutcome] = field(default_factory=list)

    def inner_pooled(self) -> tuple[np.ndarray, np.ndarray]:
        true = np.concatenate([f.selection.inner_true for f in self.folds]).astype(int)
        pred = np.concatenate([f.selection.inner_pred for f in self.folds]).astype(int)
        return true, pred

    def objective(self) -> float:
        """Pooled inner-validation UF1 over the folds: the only number Optuna sees."""
        return uf1(*self.inner_pooled(), len(self.classes))

    def inner_scores(self) -> dict[str, Any]:
        return scores(*self.inner_pooled(), len(self.classes))

    def test_pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outer-test truth, prediction and source of every sample, pooled over the folds."""
        true = np.concatenate([f.test.y_true for f in self.folds]).astype(int)
        pred = np.concatenate([f.test.y_pred for f in self.folds]).astype(int)
        sources = np.concatenate([f.test.sources for f in self.folds])
        return true, pred, sources

    def test_scores(self) -> dict[str, Any]:
        """Pooled outer-test scores of this candidate (for the results store and reports only)."""
        true, pred, _ = self.test_pooled()
        return scores(true, pred, len(self.classes))

    def test_scores_by_source(self) -> dict[str, dict[str, Any]]:
        true, pred, sources = self.test_pooled()
        return scores_by_group(true, pred, sources, len(self.classes))

    def to_json(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "folds": [asdict(f) for f in self.folds]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialOutcome:
        folds = [FoldOutcome(FoldSelection(**f["selection"]), FoldTest(**f["test"]), f["seconds"]) for f in data["folds"]]
        return cls(tuple(data["classes"]), folds)


def _fold_seeds(seed: int, fold: int) -> tuple[int, int, int]:
    """Seeds for fold k's inner split, inner models and refit, independent of every subject's data."""
    split_seed, model_seed, refit_seed = np.random.SeedSequence([seed, fold]).generate_state(3)
    return int(split_seed), int(model_seed) % 2**31, int(refit_seed) % 2**31


def _select_epochs(
    config: PipelineConfig, data: EvalData, learners: list[Learner], validation: list[np.ndarray], keep_states: bool
) -> tuple[list[float], int, np.ndarray, list[dict[str, torch.Tensor]]]:
    """Train inner learners in lock-step; early-stop on the pooled inner-validation UF1.

    Returns the curve, the best epoch (1-based, earliest among ties), the pooled validation
    predictions at that epoch and, if ``keep_states``, each learner's weights at that epoch.
    """
    training = config.training
    curve: list[float] = []
    best_epoch, best_pred, best_states = 0, np.empty(0, int), []
    true = np.concatenate([data.labels[v] for v in validation])
    for epoch in range(1, training.max_epochs + 1):
        for learner in learners:
            learner.train_epoch()
        pred = np.concatenate([m.predict_proba(data.inputs, v).argmax(1) for m, v in zip(learners, validation, strict=True)])
        curve.append(uf1(true, pred, data.n_classes))
        if best_epoch == 0 or curve[-1] > curve[best_epoch - 1]:
            best_epoch, best_pred = epoch, pred
            best_states = [m.snapshot() for m in learners] if keep_states else []
        elif epoch - best_epoch >= training.patience:
            break
    return curve, best_epoch, best_pred, best_states


def evaluate_fold(
    config: PipelineConfig, data: EvalData, fold: int, train_rows: np.ndarray, test_rows: np.ndarray, settings: EvaluationSettings
) -> FoldOutcome:
    """Outer fold ``fold``: select on inner validation, then predict the test subject."""
    started = time.perf_counter()
    device = torch.device(settings.device)
    split_seed, model_seed, refit_seed = _fold_seeds(settings.seed, fold)
    splits = inner_splits(settings.inner, data.labels[train_rows], data.subjects[train_rows], data.sources[train_rows], split_seed)
    learners = [
        Learner(config, data.inputs, data.labels, train_rows[tr], data.n_classes, model_seed + j, device)
        for j, (tr, _) in enumerate(splits)
    ]
    validation = [train_rows[va] for _, va in splits]
    curve, best_epoch, inner_pred, states = _select_epochs(config, data, learners, validation, keep_states=not settings.refit)
    inner_rows = np.concatenate(validation)
    inner_true = data.labels[inner_rows]
    fitted = [m.fitted_statistics() for m in learners]

    if settings.refit:
        final = Learner(config, data.inputs, data.labels, train_rows, data.n_classes, refit_seed, device)
        for _ in range(best_epoch):
            final.train_epoch()
        fitted.append(final.fitted_statistics())
        probs = final.predict_proba(data.inputs, test_rows)
    else:
        for learner, state in zip(learners, states, strict=True):
            learner.restore(state)
        probs = np.mean([m.predict_proba(data.inputs, test_rows) for m in learners], axis=0)

    inner = scores(inner_true, inner_pred, data.n_classes)
    selection = FoldSelection(
        fold=fold,
        test_subject=str(data.subjects[test_rows[0]]),
        inner_curve=curve,
        best_epoch=best_epoch,
        inner_ids=data.ids[inner_rows].tolist(),
        inner_true=inner_true.tolist(),
        inner_pred=inner_pred.tolist(),
        inner_uf1=inner["uf1"],
        inner_uar=inner["uar"],
        fitted=fitted,
    )
    test = FoldTest(
        fold=fold,
        test_subject=selection.test_subject,
        ids=data.ids[test_rows].tolist(),
        sources=data.sources[test_rows].tolist(),
        y_true=data.labels[test_rows].tolist(),
        y_pred=probs.argmax(1).tolist(),
        probs=probs.round(6).tolist(),
    )
    return FoldOutcome(selection, test, time.perf_counter() - started)


def evaluate_trial(
    config: PipelineConfig,
    data: EvalData,
    settings: EvaluationSettings,
    folds: Sequence[int] | None = None,
    on_fold: Callable[[FoldOutcome, TrialOutcome], None] | None = None,
) -> TrialOutcome:
    """Nested LOSO over ``folds`` (default: every subject); ``on_fold`` sees each finished fold."""
    outer = outer_loso(data.subjects)
    outcome = TrialOutcome(data.classes)
    for fold in folds if folds is not None else range(len(outer)):
        train_rows, test_rows = outer[fold]
        result = evaluate_fold(config, data, fold, train_rows, test_rows, settings)
        outcome.folds.append(result)
        if on_fold is not None:
            on_fold(result, outcome)
    return outcome
