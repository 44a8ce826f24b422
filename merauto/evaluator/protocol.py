"""Splitters of the evaluation protocol, with scikit-learn's split(X, y, groups) semantics.

Subjects are the unit of splitting: a subject's samples are never split. The protocol's
specs and parsers are read before a command does any work, so scikit-learn is imported
only where a split is made.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from merauto.errors import MerautoError

Split = tuple[np.ndarray, np.ndarray]


def outer_loso(subjects: np.ndarray) -> list[Split]:
    """Leave-one-subject-out folds, one per subject, in sorted subject order."""
    from sklearn.model_selection import LeaveOneGroupOut

    found = np.unique(subjects)
    if len(found) < 2:
        raise MerautoError(
            f"leave-one-subject-out needs clips of at least two subjects; every clip is of subject {found[0]!r}"
            if len(found)
            else "leave-one-subject-out needs clips of at least two subjects; there are none",
            "add the clips of more subjects (check the subject column of the manifest)",
        )
    splits = list(LeaveOneGroupOut().split(np.zeros(len(subjects)), groups=subjects))
    return sorted(splits, key=lambda s: str(subjects[s[1][0]]))


@dataclass(frozen=True)
class OuterSpec:
    """The outer loop: ``loso``, ``kfold:K`` (subject-grouped), ``lodo`` (leave one source
    dataset out) or ``lovo`` (leave one video out: NOT subject-independent)."""

    kind: str = "loso"
    value: int = 0

    def __str__(self) -> str:
        return f"kfold:{self.value}" if self.kind == "kfold" else self.kind

    @property
    def subject_independent(self) -> bool:
        return self.kind != "lovo"


def parse_outer(text: str) -> OuterSpec:
    """The outer loop named by ``--outer`` (``loso``, ``kfold:K``, ``lodo``, ``lovo``), or a clear error."""
    kind, _, value = text.strip().partition(":")
    if kind in ("loso", "lodo", "lovo") and not value:
        return OuterSpec(kind)
    if kind == "kfold" and value.isdigit() and int(value) >= 2:
        return OuterSpec("kfold", int(value))
    raise MerautoError(
        f"--outer {text!r} is not a valid outer protocol",
        "use loso (default), kfold:K with K>=2 (subject-grouped), lodo (leave one source dataset out) or lovo",
    )


@dataclass(frozen=True)
class OuterFold:
    """One outer fold: its name (the held-out subject, source or sample) and its rows."""

    name: str
    train: np.ndarray
    test: np.ndarray


def outer_folds(
    spec: OuterSpec, labels: np.ndarray, subjects: np.ndarray, sources: np.ndarray, ids: np.ndarray, seed: int
) -> list[OuterFold]:
    """The outer folds of ``spec``, in a fixed order (by name, or by split for k-fold)."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    x = np.zeros(len(labels))
    if spec.kind == "loso":
        return [OuterFold(str(subjects[test[0]]), train, test) for train, test in outer_loso(subjects)]
    if spec.kind == "lodo":
        if len(np.unique(sources)) < 2:
            raise MerautoError("--outer lodo needs a dataset with at least two sources", "use --outer loso")
        splits = sorted(LeaveOneGroupOut().split(x, groups=sources), key=lambda s: str(sources[s[1][0]]))
        return [OuterFold(str(sources[test[0]]), train, test) for train, test in splits]
    if spec.kind == "lovo":
        everything = np.arange(len(labels))
        return [OuterFold(str(ids[i]), np.delete(everything, i), np.array([i])) for i in everything]
    if spec.value > len(np.unique(subjects)):
        raise MerautoError(f"--outer {spec} needs at least {spec.value} subjects", "use fewer folds or --outer loso")
    splitter = StratifiedGroupKFold(n_splits=spec.value, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(x, labels, groups=subjects))
    return [OuterFold(f"fold{i + 1}", train, test) for i, (train, test) in enumerate(splits)]


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
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

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


def check_protocol(
    outer: OuterSpec, inner: InnerSpec, labels: np.ndarray, subjects: np.ndarray, sources: np.ndarray, ids: np.ndarray, seed: int
) -> None:
    """Refuse, before any training, a dataset on which the protocol cannot make every outer fold
    and each fold's inner validation split (too few subjects, sources or clips)."""
    for fold in outer_folds(outer, labels, subjects, sources, ids, seed):
        rows = fold.train
        try:
            inner_splits(inner, labels[rows], subjects[rows], sources[rows], seed)
        except MerautoError as exc:
            raise MerautoError(
                f"--outer {outer} --inner {inner}: outer fold {fold.name} leaves {len(np.unique(subjects[rows]))} training "
                f"subject(s); {exc.problem}",
                "add clips of more subjects (LOSO with subject-disjoint inner validation needs at least three), or choose another --outer",
            ) from None
