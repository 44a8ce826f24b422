"""Seed bagging (``training.seeds`` = K): K models, differing only in their seeds, wherever one
trains; every prediction read is the mean of the K models' class probabilities.

A bag of one is the pipeline without bagging; a bag's probabilities are the mean of its models
trained alone; the leakage invariant holds; the cost model counts K times the models.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import optuna
import pytest
import torch
from conftest import random_eval_data

from merauto.evaluator.cost import trial_work
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.nested import EvalData, FoldOutcome, _plan, bag_seed, evaluate_folds, fold_seeds, study_folds, training_rows
from merauto.evaluator.protocol import InnerSpec, inner_splits
from merauto.evaluator.settings import EvaluationSettings
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import define_by_run, resolve

CONFIG = replace(PRESETS["ststnet"], training=replace(PRESETS["ststnet"].training, max_epochs=4, patience=2, batch_size=8))


def _bagged(seeds: int) -> PipelineConfig:
    return replace(CONFIG, training=replace(CONFIG.training, seeds=seeds))


def _alone(data: EvalData, rows: np.ndarray, seed: int, epochs: int, predict: np.ndarray) -> np.ndarray:
    """One model trained by itself on ``rows`` for ``epochs``: its probabilities of ``predict``."""
    cpu, targets = torch.device("cpu"), data.row_targets()
    models = ModelSet(CONFIG, data.inputs, data.labels, [Member(rows, seed)], data.n_classes, cpu, "loop", targets=targets)
    for _ in range(epochs):
        models.train_epoch([True])
    return models.predict_proba([0], [predict])[0]


def test_a_bag_of_one_is_the_pipeline_without_bagging() -> None:
    """A config written before the option loads with one seed, and runs the members it always ran."""
    old = CONFIG.to_dict()
    del old["training"]["seeds"]
    assert PipelineConfig.from_dict(old) == CONFIG and CONFIG.training.seeds == 1
    assert "seeds" not in CONFIG.summary() and "seeds=3" in _bagged(3).summary()
    assert all(preset.training.seeds == 1 for preset in PRESETS.values())

    data, settings = random_eval_data(), EvaluationSettings(seed=4, inner=InnerSpec("kfold", 2))
    folds = list(enumerate(study_folds(data, settings)))[:2]
    plans, members = _plan(data, folds, settings)
    for plan in plans:  # the seeds and order of before: one member per split, seeded model_seed + j
        model_seed = fold_seeds(settings.seed, plan.index)[1]
        assert [members[m].seed for m in plan.members] == [model_seed + j for j in range(len(plan.validation))]
    runs = [evaluate_folds(config, data, folds, settings) for config in (PipelineConfig.from_dict(old), _bagged(1))]
    assert [asdict(f.selection) for f in runs[0]] == [asdict(f.selection) for f in runs[1]]
    assert [asdict(f.test) for f in runs[0]] == [asdict(f.test) for f in runs[1]]
    with pytest.raises(ValueError, match="training.seeds"):
        _plan(data, folds, settings, bags=0)


@pytest.mark.parametrize(
    ("seeds", "refit", "inner"),
    [(1, True, InnerSpec("holdout", 0.25)), (3, True, InnerSpec("kfold", 2)), (3, False, InnerSpec("kfold", 2))],
)
def test_a_bags_probabilities_are_the_mean_of_its_models_trained_alone(seeds: int, refit: bool, inner: InnerSpec) -> None:
    """Inner validation (what early stopping and Optuna read) and the test rows (refit, or the
    restored inner models with --no-refit): each the mean of K models trained alone, differently seeded."""
    data, k = random_eval_data(), 2
    settings = EvaluationSettings(seed=6, inner=inner, refit=refit, fold_batching="loop")
    fold = study_folds(data, settings)[k]
    (outcome,) = evaluate_folds(_bagged(seeds), data, [(k, fold)], settings)
    epochs = outcome.selection.best_epoch
    split_seed, model_seed, refit_seed = fold_seeds(settings.seed, k)
    splits = inner_splits(inner, data.labels[fold.train], data.subjects[fold.train], data.sources[fold.train], split_seed)
    rows = fold.train
    bags = [[bag_seed(model_seed + j, b) for b in range(seeds)] for j in range(len(splits))]
    assert len({s for bag in bags for s in bag}) == seeds * len(splits), "every model has a seed of its own"
    inner_probs = [
        np.mean([_alone(data, rows[tr], s, epochs, rows[va]) for s in bag], axis=0) for (tr, va), bag in zip(splits, bags, strict=True)
    ]
    np.testing.assert_allclose(outcome.selection.inner_probs, np.concatenate(inner_probs), atol=2e-6)
    if refit:
        test = [_alone(data, rows, bag_seed(refit_seed, b), epochs, fold.test) for b in range(seeds)]
    else:
        test = [_alone(data, rows[tr], s, epochs, fold.test) for (tr, _), bag in zip(splits, bags, strict=True) for s in bag]
    np.testing.assert_allclose(outcome.test.probs, np.mean(test, axis=0), atol=2e-6)
    assert len(outcome.selection.fitted) == len(splits) + refit, "fitted statistics: one per split (and the refit), not per seed"


def _selection_differences(a: FoldOutcome, b: FoldOutcome) -> list[str]:
    left, right = asdict(a.selection), asdict(b.selection)
    return [key for key in left if left[key] != right[key]]


@pytest.mark.parametrize(("refit", "audit", "mode"), [(True, False, "vmap"), (False, False, "loop"), (True, True, "loop")])
def test_bagging_keeps_the_leakage_invariant(refit: bool, audit: bool, mode: str) -> None:
    """Fold k's test rows corrupted (the ``all`` canary): nothing of fold k but its test predictions changes."""
    data, k = random_eval_data(), 1
    settings = EvaluationSettings(seed=7, refit=refit, audit=audit, fold_batching=mode)
    folds = study_folds(data, settings)
    chosen = [(i, folds[i]) for i in (0, 1, 3)]
    clean = evaluate_folds(_bagged(3), data, chosen, settings)[1]
    corrupted = evaluate_folds(_bagged(3), data.corrupted(folds[k].test, "all", 123), chosen, settings)[1]
    assert _selection_differences(clean, corrupted) == []
    assert clean.test.probs != corrupted.test.probs
    if audit:  # the audit curves average the bag too: the curve at the selected epoch is the prediction
        assert len(clean.test.curve) == CONFIG.training.max_epochs
        assert clean.test.curve[clean.selection.best_epoch - 1] == clean.test.y_pred
        plain = evaluate_folds(_bagged(3), data, chosen, replace(settings, audit=False))[1]
        assert (plain.test.probs, asdict(plain.selection)) == (clean.test.probs, asdict(clean.selection))


def test_the_cost_model_counts_every_model_of_the_bag() -> None:
    data, settings = random_eval_data(), EvaluationSettings()
    one, three = training_rows(data, settings), training_rows(data, settings, 3)
    assert [sorted(r * 3) for r in one] == [sorted(r) for r in three]
    single = trial_work(CONFIG, data, settings, torch.device("cpu"))
    bagged = trial_work(_bagged(3), data, settings, torch.device("cpu"))
    assert bagged.gflop == pytest.approx(3 * single.gflop) and bagged.gelements == pytest.approx(3 * single.gelements)
    assert 2 * single.mops < bagged.mops <= 3 * single.mops  # a lock-step's fixed operators are paid once per step


def test_seeds_are_sampled_last_and_round_trip() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        config = define_by_run(trial)
        study.tell(trial, 0.0)
        names = list(trial.params)
        assert names.index("training.seeds") > names.index("strategy"), "sampled after every earlier parameter"
        seen.add(config.training.seeds)
        assert resolve(PipelineConfig.from_params(trial.params)) == config == PipelineConfig.from_json(config.to_json())
    assert seen == {1, 3}
    bagged = _bagged(3)
    assert bagged.to_params()["training.seeds"] == 3 and PipelineConfig.from_params(bagged.to_params()) == bagged
