"""Splitters keep each subject on one side and never put the test subject in inner validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneGroupOut

from merauto.errors import MerautoError
from merauto.evaluator.protocol import InnerSpec, inner_splits, outer_folds, outer_loso, parse_inner, parse_outer


def _toy(n_subjects: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 9, n_subjects)
    subjects = np.repeat([f"sub{i}" for i in range(n_subjects)], sizes)
    labels = rng.integers(0, 3, len(subjects))
    sources = np.repeat(rng.choice(["casme2", "samm", "smic"], n_subjects), sizes)
    return labels, subjects, sources


def test_outer_loso_tests_every_subject_exactly_once() -> None:
    _, subjects, _ = _toy()
    folds = outer_loso(subjects)
    tested = [set(subjects[test]) for _, test in folds]
    assert all(len(t) == 1 for t in tested)
    assert sorted(s for t in tested for s in t) == sorted(set(subjects))
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
        assert len(train) + len(test) == len(subjects)
    # the same folds as scikit-learn's LeaveOneGroupOut
    reference = {frozenset(test) for _, test in LeaveOneGroupOut().split(subjects, groups=subjects)}
    assert {frozenset(test) for _, test in folds} == reference


@pytest.mark.parametrize("spec", ["holdout:0.25", "holdout:0.5", "kfold:3", "loso"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inner_splits_are_subject_disjoint_and_inside_the_training_subjects(spec: str, seed: int) -> None:
    labels, subjects, sources = _toy(seed=seed)
    for train, test in outer_loso(subjects):
        splits = inner_splits(parse_inner(spec), labels[train], subjects[train], sources[train], seed)
        assert splits
        test_subject = set(subjects[test])
        for inner_train, inner_val in splits:
            train_subjects = set(subjects[train][inner_train])
            val_subjects = set(subjects[train][inner_val])
            assert val_subjects and train_subjects
            assert not train_subjects & val_subjects, "groups must arrive at the inner splitter"
            assert not (train_subjects | val_subjects) & test_subject
        if spec in ("kfold:3", "loso"):
            covered = np.concatenate([v for _, v in splits])
            assert sorted(covered) == list(range(len(train))), "every training row is validated once"


def test_holdout_fraction_sets_the_number_of_validation_subjects() -> None:
    labels, subjects, sources = _toy(n_subjects=20)
    ((train, val),) = inner_splits(InnerSpec("holdout", 0.25), labels, subjects, sources, 0)
    assert 3 <= len(set(subjects[val])) <= 7


@pytest.mark.parametrize("text", ["holdout:1.5", "holdout", "kfold:1", "kfold:x", "loso:3", "random"])
def test_bad_inner_spec_names_the_option(text: str) -> None:
    with pytest.raises(MerautoError, match="--inner"):
        parse_inner(text)


def test_inner_spec_round_trips_through_text() -> None:
    for text in ("holdout:0.25", "kfold:5", "loso"):
        assert str(parse_inner(text)) == text


def test_outer_kfold_lodo_and_lovo() -> None:
    labels, subjects, sources = _toy(n_subjects=12)
    ids = np.array([f"id{i}" for i in range(len(labels))])
    kfold = outer_folds(parse_outer("kfold:4"), labels, subjects, sources, ids, seed=0)
    assert len(kfold) == 4
    assert sorted(np.concatenate([f.test for f in kfold])) == list(range(len(labels)))
    for fold in kfold:
        assert not set(subjects[fold.train]) & set(subjects[fold.test]), "k-fold is subject-grouped"
    lodo = outer_folds(parse_outer("lodo"), labels, subjects, sources, ids, seed=0)
    assert sorted(f.name for f in lodo) == sorted(set(sources))
    for fold in lodo:
        assert set(sources[fold.test]) == {fold.name} and fold.name not in set(sources[fold.train])
    lovo = outer_folds(parse_outer("lovo"), labels, subjects, sources, ids, seed=0)
    assert len(lovo) == len(labels) and all(len(f.test) == 1 for f in lovo)
    assert not parse_outer("lovo").subject_independent and parse_outer("loso").subject_independent


@pytest.mark.parametrize("text", ["kfold:1", "lodo:2", "leave-one-out"])
def test_bad_outer_spec_names_the_option(text: str) -> None:
    with pytest.raises(MerautoError, match="--outer"):
        parse_outer(text)
