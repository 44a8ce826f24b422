"""Splitters of the evaluation protocol, with scikit-learn's split(X, y, groups) semantics.

Subjects are the unit of splitting: a subject's samples are never split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

from merauto.errors import MerautoError

Split = tuple[np.ndarray, np.ndarray]


def outer_loso(subjects: np.ndarray) -> list[Split]:
    """Leave-one-subject-out folds, one per subject, in sorted subject order."""
    splits = list(LeaveOneGroupOut().split(np.zeros(len(subjects)), groups=subjects))
    return sorted(splits, key=lambda s: str(subjects[s[1][0]]))


@dataclass(frozen=True)
class InnerSpec:
    """How validation subjects are drawn from an outer fold's training subjects."""

    kind: str  # "holdout", "kfold" or "loso"
    value: float = 0.0

    def __str__(self) -> str:
        if self.kind == "loso":
            return "loso"
        return f"{self.kind}:{int(self.value) if self.kind == 'kfold' else self.value:g}"


def parse_inner(text: str) -> InnerSpec:
    """``holdout:F`` (0 < F < 1), ``kfold:K`` (K >= 2) or ``loso``."""
    kind, _, value = text.strip().partition(":")
    try:
        if kind == "loso" and not value:
            return InnerSpec("loso")
        if kind == "holdout" and 0 < float(value) < 1:
            return InnerSpec("holdout", float(value))
        if kind == "kfold" and int(value) >= 2 and float(value) == int(value):
            return InnerSpec("kfold", int(value))
    except ValueError:
        pass
    raise MerautoError(
        f"--inner {text!r} is not a valid inner validation scheme",
        "use holdout:F with 0<F<1 (e.g. holdout:0.25), kfold:K with K>=2 (e.g. kfold:3), or loso",
    )


def _stratify_key(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Label x source, so validation subjects resemble the training mix where possible."""
    _, source_codes = np.unique(sources, return_inverse=True)
    return np.asarray(labels) * (source_codes.max() + 1) + source_codes


def inner_splits(spec: InnerSpec, labels: np.ndarray, subjects: np.ndarray, sources: np.ndarray, seed: int) -> list[Split]:
    """Subject-disjoint (train, validation) splits of the given rows (positions into these arrays).

    The groups are passed explicitly to every splitter (scikit-learn#7646, #28696).
    """
    n_subjects = len(np.unique(subjects))
    if n_subjects < 2:
        raise MerautoError("inner validation needs at least two training subjects", "use a dataset with more subjects")
    x = np.zeros(len(labels))
    if spec.kind == "loso":
        return list(LeaveOneGroupOut().split(x, groups=subjects))
    n_splits = int(spec.value) if spec.kind == "kfold" else max(2, int(round(1.0 / spec.value)))
    n_splits = min(n_splits, n_subjects)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" on tiny folds
        splits = list(splitter.split(x, _stratify_key(labels, sources), groups=subjects))
    return splits[:1] if spec.kind == "holdout" else splits
