"""Nested cross-validation of one candidate pipeline (docs/protocol.md).

For each outer fold k, inner models are trained on inner-training subjects and scored on
inner-validation subjects, both drawn from fold k's training rows only; the epoch count comes
from early stopping on fold k's pooled inner-validation UF1 curve. The test rows are touched
once, to predict them, after everything for fold k has been chosen. The objective is computed
from inner-validation predictions only.

All folds of a batch (a rung, or the whole trial) are trained together on a
:class:`~merauto.evaluator.engine.ModelSet`; each model only ever sees its own rows.

With ``EvaluationSettings.audit`` each fold's test model also trains on to the maximum epochs,
predicting the test rows after every epoch. Those curves are stored with the test predictions
for ``merauto audit`` and read by nothing that chooses.

Seed bagging (``training.seeds = K``, an option of the pipeline like any other): every inner
split and every fold's refit trains K models that differ only in their seeds (:func:`bag_seed`),
and wherever one model's class probabilities were read (inner validation, hence early stopping
and the objective; the test rows; the audit curves) the mean of the K models' is read instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from merauto.data.sample_index import SampleIndex
from merauto.evaluator.canary import corrupt_rows
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.fitted import Inputs
from merauto.evaluator.heads import RowTargets
from merauto.evaluator.metrics import scores, scores_by_group, uf1
from merauto.evaluator.own_network import ModelFactory
from merauto.evaluator.protocol import OuterFold, inner_splits, outer_folds
from merauto.evaluator.settings import EvaluationSettings
from merauto.evaluator.strategies import Checkpoint
from merauto.pipeline.config import PipelineConfig


@dataclass(frozen=True)
class EvalData:
    """Everything the evaluator reads: inputs by stream and per-row metadata (action units
    where every clip is AU-coded)."""

    inputs: Inputs
    labels: np.ndarray
    subjects: np.ndarray
    sources: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]
    action_units: np.ndarray | None = None

    @classmethod
    def of(cls, index: SampleIndex, inputs: Inputs) -> EvalData:
        return cls(inputs, index.labels, index.subjects, index.sources, index.ids, index.classes, index.action_unit_matrix())

    def row_targets(self) -> RowTargets:
        """Auxiliary targets of every row (each model indexes its own training rows only)."""
        return RowTargets.of(self.sources, self.action_units)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def corrupted(self, rows: np.ndarray, kind: str, seed: int) -> EvalData:
        """This data with ``rows`` corrupted as canary ``kind`` says (:mod:`merauto.evaluator.canary`)."""
        inputs, labels, units = corrupt_rows(self.inputs, self.labels, self.action_units, self.n_classes, rows, kind, seed)
        return replace(self, inputs=inputs, labels=labels, action_units=units)


@dataclass
class FoldSelection:
    """Every fold-k quantity a selection step may read. None of it may depend on fold k's test rows."""

    fold: int
    test_group: str
    inner_curve: list[float]
    best_epoch: int
    inner_ids: list[str]
    inner_true: list[int]
    inner_pred: list[int]
    inner_uf1: float
    inner_uar: float
    fitted: list[dict[str, Any]]
    inner_probs: list[list[float]] | None = None  # class probabilities behind inner_pred (ensemble selection averages them)


@dataclass
class FoldTest:
    """Fold k's predictions of its test rows: stored, never shown to the sampler or pruner."""

    fold: int
    test_group: str
    ids: list[str]
    subjects: list[str]
    sources: list[str]
    y_true: list[int]
    y_pred: list[int]
    probs: list[list[float]]
    curve: list[list[int]] | None = None  # with --audit: y_pred after each epoch 1..max_epochs of the audit test model


@dataclass
class FoldOutcome:
    """Everything outer fold k produced: what a selection may read, its test predictions, and its time."""

    selection: FoldSelection
    test: FoldTest
    seconds: float  # wall time of the fold's batch, shared evenly by its folds


@dataclass
class TrialOutcome:
    """The evaluated folds of one candidate, with the pooled scores derived from them."""

    classes: tuple[str, ...]
    folds: list[FoldOutcome] = field(default_factory=list)

    def inner_pooled(self) -> tuple[np.ndarray, np.ndarray]:
        true = np.concatenate([f.selection.inner_true for f in self.folds]).astype(int)
        pred = np.concatenate([f.selection.inner_pred for f in self.folds]).astype(int)
        return true, pred

    def objective(self) -> float:
        """Pooled inner-validation UF1 over the folds: the only number Optuna sees."""
        return uf1(*self.inner_pooled(), len(self.classes))

    def fold_inner_uf1(self) -> list[float]:
        """Each evaluated fold's inner-validation UF1, in fold order (racing pairs trials fold by fold)."""
        return [f.selection.inner_uf1 for f in sorted(self.folds, key=lambda f: f.selection.fold)]

    def inner_scores(self) -> dict[str, Any]:
        return scores(*self.inner_pooled(), len(self.classes))

    def test_pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outer-test truth, prediction and source of every test row, pooled over the folds."""
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


def fold_seeds(seed: int, fold: int) -> tuple[int, int, int]:
    """Seeds for fold k's inner split, inner models and refit, independent of every row's data."""
    split_seed, model_seed, refit_seed = np.random.SeedSequence([seed, fold]).generate_state(3)
    return int(split_seed), int(model_seed) % 2**31, int(refit_seed) % 2**31


def bag_seed(seed: int, bag: int) -> int:
    """The seed of model ``bag`` of a seed bag whose first model has ``seed`` (bag 0: ``seed`` itself,
    so a bag of one is the model trained without bagging)."""
    return seed if bag == 0 else int(np.random.SeedSequence([seed, bag]).generate_state(1)[0]) % 2**31


def _bag_means(probs: Sequence[np.ndarray], groups: int, bags: int, bag_major: bool) -> list[np.ndarray]:
    """The mean probabilities of each of ``groups`` bags of ``bags`` models in ``probs``: ordered
    group by group (``bag_major=False``: group g is ``probs[g * bags : (g + 1) * bags]``) or bag by
    bag (``bag_major=True``: group g is ``probs[g::groups]``). A bag of one is its model's probabilities."""
    if bags == 1:
        return list(probs)
    return [np.mean(probs[g::groups] if bag_major else probs[g * bags : (g + 1) * bags], axis=0) for g in range(groups)]


@dataclass
class _FoldPlan:
    """Fold k's inner split: members (``bags`` per inner split, split by split) and each split's validation rows."""

    index: int
    fold: OuterFold
    members: list[int]
    validation: list[np.ndarray]
    curve: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_pred: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    best_probs: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    best_states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    training: bool = True

    @property
    def bags(self) -> int:
        """Models per inner split (``training.seeds``)."""
        return len(self.members) // len(self.validation)

    def member_validation(self) -> list[np.ndarray]:
        """The validation rows of each member (its split's)."""
        return [v for v in self.validation for _ in range(self.bags)]


def _plan(
    data: EvalData, folds: Sequence[tuple[int, OuterFold]], settings: EvaluationSettings, bags: int = 1
) -> tuple[list[_FoldPlan], list[Member]]:
    """Each fold's inner splits and their members: ``bags`` models per split (split by split)."""
    if bags < 1:
        raise ValueError(f"training.seeds must be at least 1, not {bags}")
    plans, members = [], []
    for index, fold in folds:
        split_seed, model_seed, _ = fold_seeds(settings.seed, index)
        rows = fold.train
        splits = inner_splits(settings.inner, data.labels[rows], data.subjects[rows], data.sources[rows], split_seed)
        ids = list(range(len(members), len(members) + bags * len(splits)))
        members += [Member(rows[tr], bag_seed(model_seed + j, b)) for j, (tr, _) in enumerate(splits) for b in range(bags)]
        plans.append(_FoldPlan(index, fold, ids, [rows[va] for _, va in splits]))
    return plans, members


def training_rows(data: EvalData, settings: EvaluationSettings, bags: int = 1) -> tuple[list[int], list[int], list[int]]:
    """How many rows each model of a full evaluation trains on, for the cost model: each inner
    model's (every fold), each inner model's validation rows, and each fold's test models'
    (refit or audit; none without); ``bags`` models wherever one trains without seed bagging."""
    plans, members = _plan(data, list(enumerate(study_folds(data, settings))), settings, bags)
    validation = [len(v) for plan in plans for v in plan.member_validation()]
    tests = [len(plan.fold.train) for plan in plans for _ in range(bags)] if settings.refit or settings.audit else []
    return [len(m.rows) for m in members], validation, tests


def _select_epochs(config: PipelineConfig, data: EvalData, models: ModelSet, plans: list[_FoldPlan], keep_states: bool) -> None:
    """Train every fold's inner models in lock-step; early-stop each fold on its pooled inner UF1
    (of each split's bag-averaged probabilities)."""
    patience = config.training.patience
    owner = {m: plan for plan in plans for m in plan.members}
    for epoch in range(1, config.training.max_epochs + 1):
        active = [owner[m].training for m in range(models.size)]
        if not any(active):
            break
        models.train_epoch(active)
        training = [p for p in plans if p.training]
        predicted = models.predict_proba([m for p in training for m in p.members], [v for p in training for v in p.member_validation()])
        offset = 0
        for plan in training:
            probs = np.concatenate(_bag_means(predicted[offset : offset + len(plan.members)], len(plan.validation), plan.bags, False))
            pred = probs.argmax(1)
            offset += len(plan.members)
            true = np.concatenate([data.labels[v] for v in plan.validation])
            plan.curve.append(uf1(true, pred, data.n_classes))
            if plan.best_epoch == 0 or plan.curve[-1] > plan.curve[plan.best_epoch - 1]:
                plan.best_epoch, plan.best_pred, plan.best_probs = epoch, pred, probs
                if keep_states:
                    plan.best_states = [models.snapshot(m) for m in plan.members]
            elif epoch - plan.best_epoch >= patience:
                plan.training = False


def evaluate_folds(
    config: PipelineConfig,
    data: EvalData,
    folds: Sequence[tuple[int, OuterFold]],
    settings: EvaluationSettings,
    init: Checkpoint | None = None,
    build: ModelFactory | None = None,
) -> list[FoldOutcome]:
    """Evaluate outer folds together: select on inner validation, then predict each test set.
    ``init``: the weights a fine-tuning strategy starts every model from (pre-trained elsewhere);
    ``build``: a researcher's model factory that builds every model instead of the config's network."""
    started = time.perf_counter()
    device = torch.device(settings.device)
    bags = config.training.seeds
    plans, members = _plan(data, folds, settings, bags)
    targets = data.row_targets()
    batching = (settings.fold_batching, settings.amp, targets, init, build)
    inner = ModelSet(config, data.inputs, data.labels, members, data.n_classes, device, *batching)
    _select_epochs(config, data, inner, plans, keep_states=not settings.refit)

    curves: list[list[list[int]] | None] = [None] * len(plans)
    if settings.refit or settings.audit:
        refits = [Member(plan.fold.train, fold_seeds(settings.seed, plan.index)[2]) for plan in plans]
        refits += [replace(m, seed=bag_seed(m.seed, b)) for b in range(1, bags) for m in refits]  # bag by bag
        final = ModelSet(config, data.inputs, data.labels, refits, data.n_classes, device, *batching)
        refit_probs, curves = _train_test_models(config, final, plans, settings.audit)
    if settings.refit:
        probs = refit_probs
        refit_stats = [final.fitted_statistics(i) for i in range(len(plans))]
    else:
        for plan in plans:
            for m, state in zip(plan.members, plan.best_states, strict=True):
                inner.restore(m, state)
        probs = []
        for plan in plans:  # every split's bag weighs the same, so the mean of all its members is the mean of the bags' means
            each = inner.predict_proba(plan.members, [plan.fold.test] * len(plan.members))
            probs.append(np.mean(each, axis=0))
        refit_stats = [None] * len(plans)

    seconds = (time.perf_counter() - started) / len(plans)
    return [
        _outcome(data, plan, inner, p, stats, curve, seconds)
        for plan, p, stats, curve in zip(plans, probs, refit_stats, curves, strict=True)
    ]


def _train_test_models(
    config: PipelineConfig, models: ModelSet, plans: list[_FoldPlan], audit: bool
) -> tuple[list[np.ndarray], list[list[list[int]] | None]]:
    """Train fold k's test model (member k, on all of fold k's training rows) for fold k's selected
    epochs and predict its test rows: each fold's test probabilities, and no curves. With seed
    bagging fold k's models are members k, k + F, k + 2F, ... (F folds), their probabilities averaged.

    With ``audit`` every test model trains on to the trial's maximum epochs and predicts its test
    rows after each epoch (what a leaky protocol would read). A member's training never depends
    on how long the others train, so the probabilities at its selected epoch are the ones the
    model would give had it stopped there; the curves go to the record only.
    """
    bags = models.size // len(plans)
    tests = [plan.fold.test for plan in plans] * bags
    epochs = [plan.best_epoch for plan in plans] * bags
    everyone = list(range(models.size))
    if not audit:
        for epoch in range(max(epochs)):
            models.train_epoch([epoch < best for best in epochs])
        return _bag_means(models.predict_proba(everyone, tests), len(plans), bags, True), [None] * len(plans)
    selected: list[np.ndarray] = [np.empty(0)] * len(plans)
    curves: list[list[list[int]]] = [[] for _ in plans]
    for epoch in range(1, config.training.max_epochs + 1):
        models.train_epoch([True] * models.size)
        for k, probs in enumerate(_bag_means(models.predict_proba(everyone, tests), len(plans), bags, True)):
            curves[k].append(probs.argmax(1).tolist())
            if epoch == plans[k].best_epoch:
                selected[k] = probs
    return selected, curves


def _outcome(
    data: EvalData,
    plan: _FoldPlan,
    inner: ModelSet,
    probs: np.ndarray,
    refit_stats: dict | None,
    curve: list[list[int]] | None,
    seconds: float,
) -> FoldOutcome:
    inner_rows = np.concatenate(plan.validation)
    inner_true = data.labels[inner_rows]
    inner_scores = scores(inner_true, plan.best_pred, data.n_classes)
    fitted = [inner.fitted_statistics(m) for m in plan.members[:: plan.bags]] + ([refit_stats] if refit_stats else [])  # one per split
    test = plan.fold.test
    selection = FoldSelection(
        fold=plan.index,
        test_group=plan.fold.name,
        inner_curve=plan.curve,
        best_epoch=plan.best_epoch,
        inner_ids=data.ids[inner_rows].tolist(),
        inner_true=inner_true.tolist(),
        inner_pred=plan.best_pred.tolist(),
        inner_probs=plan.best_probs.round(6).tolist(),
        inner_uf1=inner_scores["uf1"],
        inner_uar=inner_scores["uar"],
        fitted=fitted,
    )
    result = FoldTest(
        fold=plan.index,
        test_group=plan.fold.name,
        ids=data.ids[test].tolist(),
        subjects=data.subjects[test].tolist(),
        sources=data.sources[test].tolist(),
        y_true=data.labels[test].tolist(),
        y_pred=probs.argmax(1).tolist(),
        probs=probs.round(6).tolist(),
        curve=curve,
    )
    return FoldOutcome(selection, result, seconds)


def study_folds(data: EvalData, settings: EvaluationSettings) -> list[OuterFold]:
    """The outer folds of the protocol on ``data`` (fixed for a study)."""
    return outer_folds(settings.outer, data.labels, data.subjects, data.sources, data.ids, settings.seed)


def evaluate_trial(
    config: PipelineConfig,
    data: EvalData,
    settings: EvaluationSettings,
    rungs: Sequence[Sequence[int]] | None = None,
    on_rung: Callable[[int, TrialOutcome], None] | None = None,
    init: Checkpoint | None = None,
    build: ModelFactory | None = None,
) -> TrialOutcome:
    """Nested evaluation over ``rungs`` (nested fold subsets; default: one rung of every fold).

    After each rung, ``on_rung(rung, outcome_so_far)`` sees the folds evaluated so far. The
    objective is pooled inner-validation UF1; each fold's test predictions are made once, after
    everything for that fold was chosen. ``build``: a researcher's model factory
    (:mod:`merauto.evaluator.own_network`) trained with ``config``'s inputs, loss and training settings.

    Six subjects of six clips each, leave-one-subject-out with a 25% inner holdout:

    >>> import numpy as np
    >>> from merauto.pipeline import Choice, PipelineConfig, TrainingConfig
    >>> labels = np.arange(36) % 3
    >>> flow = np.random.default_rng(0).normal(size=(36, 3, 12, 12)).astype(np.float32) + labels[:, None, None, None]
    >>> data = EvalData(
    ...     {"flow": flow}, labels, subjects=np.repeat([f"s{i}" for i in range(6)], 6), sources=np.full(36, "casme2"),
    ...     ids=np.array([f"clip{i}" for i in range(36)]), classes=("negative", "positive", "surprise"),
    ... )
    >>> config = PipelineConfig(
    ...     input=Choice("flow_strain"), topology=Choice("stacked", {"depth": 1, "width": 4, "pool": 1}),
    ...     block=Choice("conv_bn_relu"), loss=Choice("cross_entropy"), training=TrainingConfig(max_epochs=5, batch_size=8),
    ... )
    >>> outcome = evaluate_trial(config, data, EvaluationSettings(seed=0))
    >>> [fold.test.test_group for fold in outcome.folds]
    ['s0', 's1', 's2', 's3', 's4', 's5']
    >>> from sklearn.metrics import f1_score
    >>> inner_true, inner_pred = outcome.inner_pooled()  # what Optuna sees: macro F1 of the pooled inner predictions
    >>> abs(outcome.objective() - f1_score(inner_true, inner_pred, average="macro", labels=[0, 1, 2], zero_division=0)) < 1e-12
    True
    """
    folds = study_folds(data, settings)
    rungs = rungs if rungs is not None else [range(len(folds))]
    outcome = TrialOutcome(data.classes)
    done: set[int] = set()
    for rung, members in enumerate(rungs):
        new = [k for k in members if k not in done]
        outcome.folds += _evaluate_new_folds(config, data, folds, new, settings, init, build)
        done.update(new)
        if on_rung is not None:
            on_rung(rung, outcome)
    return outcome


def _evaluate_new_folds(
    config: PipelineConfig,
    data: EvalData,
    folds: list[OuterFold],
    new: list[int],
    settings: EvaluationSettings,
    init: Checkpoint | None,
    build: ModelFactory | None,
) -> list[FoldOutcome]:
    """Folds ``new`` evaluated together; under a leak canary one by one, each on data whose own test rows are corrupted."""
    if not new:
        return []
    if settings.canary is None:
        return evaluate_folds(config, data, [(k, folds[k]) for k in new], settings, init, build)
    return [
        evaluate_folds(config, data.corrupted(folds[k].test, settings.canary, settings.seed + k), [(k, folds[k])], settings, init, build)[0]
        for k in new
    ]
