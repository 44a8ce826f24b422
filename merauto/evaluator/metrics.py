"""MEGC metrics on pooled predictions: UF1, UAR, accuracy, per class, per source, bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts[i, j] of samples of true class i predicted as j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def _per_class(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    f1_denominator = support + predicted  # 2TP + FP + FN
    f1 = np.divide(2 * tp, f1_denominator, out=np.zeros_like(tp), where=f1_denominator > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    return f1, recall


def uf1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted F1: mean over classes of F1 computed from pooled TP/FP/FN (MEGC)."""
    return float(_per_class(confusion(y_true, y_pred, n_classes))[0].mean())


def uar(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted average recall: mean over classes of TP_c / N_c on pooled predictions (MEGC)."""
    return float(_per_class(confusion(y_true, y_pred, n_classes))[1].mean())


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """UF1, UAR, accuracy, per-class F1/recall and the confusion matrix of pooled predictions."""
    matrix = confusion(y_true, y_pred, n_classes)
    f1, recall = _per_class(matrix)
    n = int(matrix.sum())
    return {
        "uf1": float(f1.mean()),
        "uar": float(recall.mean()),
        "accuracy": float(np.trace(matrix) / n) if n else 0.0,
        "n": n,
        "f1_per_class": f1.tolist(),
        "recall_per_class": recall.tolist(),
        "confusion": matrix.tolist(),
    }


def scores_by_group(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_classes: int) -> dict[str, dict[str, Any]]:
    """:func:`scores` for each value of ``groups`` (e.g. the composite's source datasets)."""
    groups = np.asarray(groups)
    return {str(g): scores(y_true[groups == g], y_pred[groups == g], n_classes) for g in sorted(set(groups.tolist()))}


def _resampled_confusions(
    y_true: np.ndarray, predictions: list[np.ndarray], subjects: np.ndarray, n_classes: int, n_resamples: int, seed: int
) -> list[np.ndarray]:
    """For each of ``predictions``: the confusion matrices (``n_resamples`` x classes x classes) of
    ``n_resamples`` draws of whole subjects with replacement, the same draws for each.

    The rows of a draw are its subjects' rows, each as often as it was drawn, so a draw's confusion
    matrix is the sum of its subjects' matrices weighted by those counts: one matrix product for
    every draw at once instead of a pass over the rows of each."""
    unique, subject_of_row = np.unique(np.asarray(subjects), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_resamples, len(unique)), dtype=np.int64)
    for draw in counts:  # one draw after another, as a loop over the draws would take them from the generator
        np.add.at(draw, rng.integers(0, len(unique), len(unique)), 1)
    confusions = []
    for y_pred in predictions:
        per_subject = np.zeros((len(unique), n_classes * n_classes), dtype=np.int64)
        np.add.at(per_subject, (subject_of_row, np.asarray(y_true, int) * n_classes + np.asarray(y_pred, int)), 1)
        confusions.append((counts @ per_subject).reshape(n_resamples, n_classes, n_classes))
    return confusions


def _resampled_scores(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UF1 and UAR of each of a stack of confusion matrices (as :func:`uf1` and :func:`uar` compute them)."""
    tp = np.diagonal(matrices, axis1=1, axis2=2).astype(float)
    support, predicted = matrices.sum(axis=2).astype(float), matrices.sum(axis=1).astype(float)
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=support + predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    return f1.mean(axis=1), recall.mean(axis=1)


def subject_bootstrap(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    subjects: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray, int], float],
    n_classes: int,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of ``metric`` (:func:`uf1` or :func:`uar`) when whole subjects (not samples) are resampled."""
    if metric not in (uf1, uar):
        raise ValueError(f"subject_bootstrap resamples uf1 or uar, not {getattr(metric, '__name__', metric)!r}")
    (matrices,) = _resampled_confusions(y_true, [y_pred], subjects, n_classes, n_resamples, seed)
    values = _resampled_scores(matrices)[0 if metric is uf1 else 1]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_subject_bootstrap(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    subjects: np.ndarray,
    n_classes: int,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of UF1(a) - UF1(b) and UAR(a) - UAR(b) over the same rows, each
    draw of whole subjects applied to both (so the interval is of the difference, not of each)."""
    a, b = (_resampled_scores(m) for m in _resampled_confusions(y_true, [pred_a, pred_b], subjects, n_classes, n_resamples, seed))
    differences = np.stack([a[0] - b[0], a[1] - b[1]], axis=1)
    low, high = np.percentile(differences, [2.5, 97.5], axis=0)
    return {"uf1": (float(low[0]), float(high[0])), "uar": (float(low[1]), float(high[1]))}


def accuracy_by_group(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, tuple[float, int]]:
    """(accuracy, number of samples) for each value of ``groups`` (e.g. each test subject)."""
    groups = np.asarray(groups)
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return {str(g): (float(correct[groups == g].mean()), int((groups == g).sum())) for g in sorted(set(groups.tolist()))}
