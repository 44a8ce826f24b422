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


def _subject_resamples(subjects: np.ndarray, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``n_resamples`` draws of whole subjects with replacement."""
    subjects = np.asarray(subjects)
    unique = np.unique(subjects)
    members = [np.flatnonzero(subjects == s) for s in unique]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))]) for _ in range(n_resamples)]


def subject_bootstrap(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    subjects: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray, int], float],
    n_classes: int,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of ``metric`` when whole subjects (not samples) are resampled."""
    values = [metric(y_true[picked], y_pred[picked], n_classes) for picked in _subject_resamples(subjects, n_resamples, seed)]
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
    differences = []
    for picked in _subject_resamples(subjects, n_resamples, seed):
        f1_a, recall_a = _per_class(confusion(y_true[picked], pred_a[picked], n_classes))
        f1_b, recall_b = _per_class(confusion(y_true[picked], pred_b[picked], n_classes))
        differences.append((f1_a.mean() - f1_b.mean(), recall_a.mean() - recall_b.mean()))
    low, high = np.percentile(np.array(differences), [2.5, 97.5], axis=0)
    return {"uf1": (float(low[0]), float(high[0])), "uar": (float(low[1]), float(high[1]))}


def accuracy_by_group(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, tuple[float, int]]:
    """(accuracy, number of samples) for each value of ``groups`` (e.g. each test subject)."""
    groups = np.asarray(groups)
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return {str(g): (float(correct[groups == g].mean()), int((groups == g).sum())) for g in sorted(set(groups.tolist()))}
