"""MEGC metrics equal scikit-learn's on the same pooled predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from merauto.evaluator.metrics import paired_subject_bootstrap, scores, scores_by_group, subject_bootstrap, uar, uf1


@pytest.mark.parametrize("seed", range(8))
def test_uf1_uar_accuracy_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, 60)
    y_pred = np.where(rng.uniform(size=60) < 0.6, y_true, rng.integers(0, 3, 60))
    labels = [0, 1, 2]
    assert uf1(y_true, y_pred, 3) == pytest.approx(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0))
    assert uar(y_true, y_pred, 3) == pytest.approx(recall_score(y_true, y_pred, average="macro", labels=labels, zero_division=0))
    s = scores(y_true, y_pred, 3)
    assert s["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert s["confusion"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()


def test_a_class_never_predicted_counts_as_zero_f1() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 1])
    assert uf1(y_true, y_pred, 3) == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert scores(y_true, y_pred, 3)["f1_per_class"][2] == 0.0


def test_scores_by_group_split_the_pooled_predictions() -> None:
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 1, 2, 1, 1, 1])
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    by = scores_by_group(y_true, y_pred, groups, 3)
    assert by["a"]["uf1"] == 1.0 and by["b"]["n"] == 3


def test_bootstrap_interval_contains_the_estimate_and_shrinks_with_more_subjects() -> None:
    rng = np.random.default_rng(0)

    def data(n_subjects: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        subjects = np.repeat(np.arange(n_subjects), 6)
        y_true = rng.integers(0, 3, len(subjects))
        y_pred = np.where(rng.uniform(size=len(subjects)) < 0.7, y_true, rng.integers(0, 3, len(subjects)))
        return y_true, y_pred, subjects

    few, many = data(8), data(80)
    low_f, high_f = subject_bootstrap(*few[:2], few[2], uf1, 3, n_resamples=400)
    low_m, high_m = subject_bootstrap(*many[:2], many[2], uf1, 3, n_resamples=400)
    assert low_f <= uf1(few[0], few[1], 3) <= high_f
    assert low_m <= uf1(many[0], many[1], 3) <= high_m
    assert high_m - low_m < high_f - low_f


def test_paired_interval_is_of_the_difference_and_narrower_than_the_separate_ones() -> None:
    """Two predictors that mostly agree: their UF1 difference is known far more precisely than either UF1."""
    rng = np.random.default_rng(1)
    subjects = np.repeat(np.arange(30), 6)
    y_true = rng.integers(0, 3, len(subjects))
    a = np.where(rng.uniform(size=len(subjects)) < 0.6, y_true, rng.integers(0, 3, len(subjects)))
    b = np.where(rng.uniform(size=len(subjects)) < 0.1, y_true, a)  # b = a with a few more right
    paired = paired_subject_bootstrap(y_true, b, a, subjects, 3, n_resamples=400)
    low, high = paired["uf1"]
    assert low <= uf1(y_true, b, 3) - uf1(y_true, a, 3) <= high and low >= 0.0  # b is never worse on any resample
    separate = subject_bootstrap(y_true, a, subjects, uf1, 3, n_resamples=400)
    assert high - low < (separate[1] - separate[0]) / 2
    assert paired_subject_bootstrap(y_true, a, a, subjects, 3, n_resamples=50) == {"uf1": (0.0, 0.0), "uar": (0.0, 0.0)}


@pytest.mark.parametrize("seed", range(4))
def test_bootstrap_intervals_equal_scoring_each_draws_rows(seed: int) -> None:
    """The weighted subject confusion matrices give, draw by draw, what scoring the rows of each draw gives."""
    rng = np.random.default_rng(seed)
    subjects = np.array([f"s{s}" for s in rng.integers(0, 9, 70)])
    y_true, a, b = (rng.integers(0, 3, 70) for _ in range(3))
    unique = np.unique(subjects)
    draws = np.random.default_rng(5)  # the generator the intervals use, seeded alike, draw after draw
    members = [np.flatnonzero(subjects == s) for s in unique]
    rows = [np.concatenate([members[i] for i in draws.integers(0, len(unique), len(unique))]) for _ in range(300)]
    for metric in (uf1, uar):
        expected = np.percentile([metric(y_true[r], a[r], 3) for r in rows], [2.5, 97.5])
        assert subject_bootstrap(y_true, a, subjects, metric, 3, n_resamples=300, seed=5) == tuple(float(x) for x in expected)
    differences = np.array([[m(y_true[r], a[r], 3) - m(y_true[r], b[r], 3) for m in (uf1, uar)] for r in rows])
    low, high = np.percentile(differences, [2.5, 97.5], axis=0)
    paired = paired_subject_bootstrap(y_true, a, b, subjects, 3, n_resamples=300, seed=5)
    assert paired == {"uf1": (float(low[0]), float(high[0])), "uar": (float(low[1]), float(high[1]))}


def test_bootstrap_refuses_a_metric_it_cannot_resample() -> None:
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match="uf1 or uar, not 'accuracy_score'"):
        subject_bootstrap(y, y, np.array(["a", "a", "b", "b"]), accuracy_score, 3)
