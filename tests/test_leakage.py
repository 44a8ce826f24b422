"""The leakage invariant of docs/protocol.md, as a test, at the evaluator (tests/test_handovers_*.py: where values are handed over).

For an outer fold k, fold k is run twice with the same seeds, the second time with the test
subject's labels permuted and its features replaced by noise. Every fold-k quantity that a
selection can read must be bit-identical; only the test predictions may differ.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from conftest import random_eval_data

import merauto.evaluator.engine as engine
import merauto.evaluator.nested as nested
from merauto.evaluator.augment import AUGMENTS
from merauto.evaluator.heads import TASKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.metrics import uf1
from merauto.evaluator.nested import EvalData, FoldOutcome, TrialOutcome, evaluate_folds, study_folds
from merauto.evaluator.optim import SCHEDULES
from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.evaluator.settings import EvaluationSettings
from merauto.evaluator.strategies import STRATEGIES, Checkpoint
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.search_space.presets import PRESETS

CONFIG = replace(PRESETS["ststnet"], training=replace(PRESETS["ststnet"].training, max_epochs=6, patience=3, batch_size=8))
AUGMENTED = replace(CONFIG, augment=Choice("combined", AUGMENTS.get("combined").resolve({})))


def _corrupt_test_rows(data: EvalData, test_rows: np.ndarray, seed: int = 123) -> EvalData:
    """Labels (and action units) of the test rows permuted and shifted, features replaced by noise (the ``all`` canary)."""
    return data.corrupted(test_rows, "all", seed)


def selection_differences(a: FoldOutcome, b: FoldOutcome) -> list[str]:
    """Names of selection-visible fold quantities that differ between two runs of a fold."""
    left, right = asdict(a.selection), asdict(b.selection)
    return [key for key in left if left[key] != right[key]]


def _run_twice(
    data: EvalData, fold: int, settings: EvaluationSettings, batch: tuple[int, ...] = (), config: PipelineConfig = CONFIG
) -> tuple[FoldOutcome, FoldOutcome]:
    """Fold ``fold`` evaluated (with the other folds of ``batch`` alongside) on clean and corrupted data."""
    folds = study_folds(data, settings)
    chosen = sorted({fold, *batch})
    test_rows = folds[fold].test
    clean = evaluate_folds(config, data, [(k, folds[k]) for k in chosen], settings)
    corrupted = evaluate_folds(config, _corrupt_test_rows(data, test_rows), [(k, folds[k]) for k in chosen], settings)
    return clean[chosen.index(fold)], corrupted[chosen.index(fold)]


@pytest.mark.parametrize("inner", [InnerSpec("holdout", 0.25), InnerSpec("kfold", 3), InnerSpec("loso")])
@pytest.mark.parametrize("refit", [True, False])
def test_fold_selection_never_depends_on_the_test_subject(inner: InnerSpec, refit: bool) -> None:
    data = random_eval_data()
    settings = EvaluationSettings(inner=inner, refit=refit, seed=7)
    for fold in (0, 3):
        clean, corrupted = _run_twice(data, fold, settings, batch=(1, 4))
        assert selection_differences(clean, corrupted) == []
        assert clean.test.y_true != corrupted.test.y_true or clean.test.probs != corrupted.test.probs


@pytest.mark.parametrize("mode", ["loop", "vmap"])
def test_batched_folds_keep_the_invariant_in_every_batching_mode(mode: str) -> None:
    """Other folds of the same batch change when subject k is corrupted (k trains them); fold k must not."""
    settings = EvaluationSettings(seed=5, fold_batching=mode)
    clean, corrupted = _run_twice(random_eval_data(), 2, settings, batch=(0, 1, 3, 4, 5))
    assert selection_differences(clean, corrupted) == []


@pytest.mark.parametrize("outer", [OuterSpec("kfold", 3), OuterSpec("lodo"), OuterSpec("lovo")])
def test_other_outer_protocols_keep_the_invariant(outer: OuterSpec) -> None:
    settings = EvaluationSettings(seed=2, outer=outer)
    clean, corrupted = _run_twice(random_eval_data(), 0, settings)
    assert selection_differences(clean, corrupted) == []


@pytest.mark.parametrize("mode", ["loop", "vmap"])
def test_augmentation_and_mixup_see_training_rows_only(mode: str) -> None:
    """Spatial, motion and mixup augmentation draw from training batches: selection is unchanged by the test subject."""
    settings = EvaluationSettings(inner=InnerSpec("holdout", 0.25), refit=True, seed=5, fold_batching=mode)
    clean, corrupted = _run_twice(random_eval_data(), 2, settings, batch=(0, 4), config=AUGMENTED)
    assert selection_differences(clean, corrupted) == []
    assert clean.test.probs != corrupted.test.probs


RECIPES = {
    "cutmix": replace(CONFIG, augment=Choice("cutmix", AUGMENTS.get("cutmix").resolve({"prob": 1.0}))),
    "ema": replace(CONFIG, training=replace(CONFIG.training, averaging="ema", ema_decay=0.9)),
    "swa": replace(CONFIG, training=replace(CONFIG.training, averaging="swa", swa_start=0.25)),
    "balanced": replace(CONFIG, training=replace(CONFIG.training, sampling="balanced")),
}


@pytest.mark.parametrize("recipe", RECIPES)
def test_cutmix_weight_averaging_and_balanced_sampling_keep_the_invariant(recipe: str) -> None:
    """CutMix pastes from training batches; averages and sampling weights read the member's own steps and rows."""
    settings = EvaluationSettings(inner=InnerSpec("holdout", 0.25), refit=recipe != "ema", seed=5)
    clean, corrupted = _run_twice(random_eval_data(), 2, settings, batch=(0, 4), config=RECIPES[recipe])
    assert selection_differences(clean, corrupted) == []
    assert clean.test.probs != corrupted.test.probs


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_optimiser_and_schedule_keeps_the_invariant(loss: str) -> None:
    """Embedding losses compare samples within a training batch; schedules read epoch counts only."""
    k = LOSSES.names().index(loss)
    training = replace(CONFIG.training, optimiser=("adamw", "sgd")[k % 2], schedule=SCHEDULES.names()[k % len(SCHEDULES.names())])
    config = replace(CONFIG, loss=Choice(loss, LOSSES.get(loss).resolve({})), training=training)
    clean, corrupted = _run_twice(random_eval_data(), 1, EvaluationSettings(seed=3), batch=(0, 2), config=config)
    assert selection_differences(clean, corrupted) == []


def test_on_real_inputs_the_objective_and_reported_values_ignore_test_subjects(tiny_flow: EvalData) -> None:
    """On the synthetic flow inputs: the objective and every intermediate value are unchanged."""
    settings = EvaluationSettings(seed=1)
    clean, corrupted = _run_twice(tiny_flow, 2, settings)
    assert selection_differences(clean, corrupted) == []
    a, b = TrialOutcome(tiny_flow.classes, [clean]), TrialOutcome(tiny_flow.classes, [corrupted])
    assert a.objective() == b.objective()  # what Optuna and the pruner see (final and per rung)
    assert a.test_scores() != b.test_scores() or clean.test.probs != corrupted.test.probs


def test_the_invariant_test_catches_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wire the test subject into selection (normalisation fitted on every row) and watch it fail."""
    original = nested.ModelSet

    def leaky(config, inputs, labels, members, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        everything = np.arange(len(labels))
        return original(config, inputs, labels, [replace(m, rows=everything) for m in members], *args, **kwargs)

    monkeypatch.setattr(nested, "ModelSet", leaky)
    clean, corrupted = _run_twice(random_eval_data(), 0, EvaluationSettings(seed=7))
    assert "fitted" in selection_differences(clean, corrupted)


def test_the_invariant_test_catches_a_test_score_in_the_objective(monkeypatch: pytest.MonkeyPatch) -> None:
    """Report the test subject's UF1 as the fold's inner score (the published mistake) and watch it fail."""
    original = nested._outcome

    def leaky(*args, **kwargs):  # noqa: ANN002, ANN003
        outcome = original(*args, **kwargs)
        outcome.selection.inner_uf1 = uf1(np.array(outcome.test.y_true), np.array(outcome.test.y_pred), 3)
        return outcome

    monkeypatch.setattr(nested, "_outcome", leaky)
    clean, corrupted = _run_twice(random_eval_data(), 1, EvaluationSettings(seed=7))
    assert "inner_uf1" in selection_differences(clean, corrupted)


def test_same_seed_same_objective(tiny_flow: EvalData) -> None:
    settings = EvaluationSettings(seed=3)
    first = nested.evaluate_trial(CONFIG, tiny_flow, settings, rungs=[[0, 1]])
    second = nested.evaluate_trial(CONFIG, tiny_flow, settings, rungs=[[0, 1]])
    assert first.objective() == second.objective()
    assert [f.test.probs for f in first.folds] == [f.test.probs for f in second.folds]


def _with_action_units(data: EvalData) -> EvalData:
    units = (np.random.default_rng(9).random((len(data.labels), 4)) < 0.4).astype(np.float32)
    return replace(data, action_units=units)


def _auxiliary(slot: str, name: str) -> PipelineConfig:
    registry = {"tasks": TASKS, "strategy": STRATEGIES}[slot]
    return replace(CONFIG, **{slot: Choice(name, registry.get(name).resolve({}))})


@pytest.mark.parametrize(
    ("slot", "name", "mode"),
    [
        ("tasks", "source", "loop"),
        ("tasks", "au", "loop"),
        ("strategy", "dann", "loop"),
        ("strategy", "dann", "vmap"),
        ("strategy", "distill", "loop"),
        ("strategy", "distill", "vmap"),
    ],
)
def test_auxiliary_heads_domain_adversaries_and_teachers_keep_the_invariant(slot: str, name: str, mode: str) -> None:
    """Source and AU heads read their training rows' labels; the domain adversary reads the
    training rows' sources (never the test rows, not even unlabelled); every teacher is trained
    on its student's rows only."""
    settings = EvaluationSettings(inner=InnerSpec("holdout", 0.25), refit=True, seed=5, fold_batching=mode)
    clean, corrupted = _run_twice(_with_action_units(random_eval_data()), 2, settings, batch=(0, 4), config=_auxiliary(slot, name))
    assert selection_differences(clean, corrupted) == []
    assert clean.test.probs != corrupted.test.probs


def test_each_teacher_trains_and_predicts_on_its_students_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every row each model set trains or predicts on: a teacher's member m touches
    exactly student member m's training rows, and no teacher touches a test row."""
    trained: dict[int, list[set[int]]] = {}
    predicted: dict[int, list[set[int]]] = {}
    sets: dict[int, engine.ModelSet] = {}
    original_step, original_logits = engine.ModelSet._step, engine.ModelSet.predict_logits

    def step(self, stepping, orders, positions):  # noqa: ANN001, ANN202
        sets[id(self)] = self
        seen = trained.setdefault(id(self), [set() for _ in range(self.size)])
        for m in stepping:
            seen[m].update(orders[m][positions % len(orders[m])].tolist())
        return original_step(self, stepping, orders, positions)

    def logits(self, members, rows):  # noqa: ANN001, ANN202
        seen = predicted.setdefault(id(self), [set() for _ in range(self.size)])
        for m, r in zip(members, rows, strict=True):
            seen[m].update(r.tolist())
        return original_logits(self, members, rows)

    monkeypatch.setattr(engine.ModelSet, "_step", step)
    monkeypatch.setattr(engine.ModelSet, "predict_logits", logits)
    data = random_eval_data()
    settings = EvaluationSettings(seed=5)
    folds = study_folds(data, settings)
    config = _auxiliary("strategy", "distill")
    evaluate_folds(config, data, [(1, folds[1])], settings)
    teachers = [key for key, models in sets.items() if models.config.strategy.name == "scratch"]
    students = [key for key, models in sets.items() if models.config == config]
    assert len(teachers) == len(students) == 2  # the inner set and the refit set, each with its teachers
    test_rows = {int(r) for r in folds[1].test}
    for key in teachers:
        models = sets[key]
        assert models.config.topology.params["width_0"] == 2 * config.topology.params["width_0"]
        for m, member in enumerate(models.members):
            assert trained[key][m] == predicted[key][m] == set(member.rows.tolist())
            assert not trained[key][m] & test_rows


def test_finetuning_from_a_checkpoint_keeps_the_invariant(tmp_path) -> None:  # noqa: ANN001
    """A checkpoint pre-trained on other subjects (another random data set) is fixed input: selection is unchanged."""
    other = random_eval_data(seed=4)
    pretrained = engine.ModelSet(CONFIG, other.inputs, other.labels, [engine.Member(np.arange(36), 0)], 3, torch.device("cpu"))
    pretrained.train_epoch([True])
    torch.save({"state_dict": pretrained.state_dict(0)}, tmp_path / "model.pt")
    init = Checkpoint.load(tmp_path / "model.pt")
    data, settings, config = random_eval_data(), EvaluationSettings(seed=5), replace(CONFIG, strategy=Choice("finetune"))
    folds = study_folds(data, settings)
    clean = evaluate_folds(config, data, [(2, folds[2])], settings, init)[0]
    corrupted = evaluate_folds(config, _corrupt_test_rows(data, folds[2].test), [(2, folds[2])], settings, init)[0]
    assert selection_differences(clean, corrupted) == []
    assert clean.test.probs != corrupted.test.probs


def test_the_invariant_test_catches_a_teacher_that_sees_the_test_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train every teacher on all rows (the test subject's included) and watch the invariant fail."""
    original = engine.ModelSet.__init__
    config = _auxiliary("strategy", "distill")

    def leaky(self, config_, inputs, labels, members, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if config_.topology != config.topology:  # a teacher: its topology is widened
            members = [replace(m, rows=np.arange(len(labels))) for m in members]
        original(self, config_, inputs, labels, members, *args, **kwargs)

    monkeypatch.setattr(engine.ModelSet, "__init__", leaky)
    clean, corrupted = _run_twice(random_eval_data(), 2, EvaluationSettings(seed=5), config=config)
    assert "inner_curve" in selection_differences(clean, corrupted)


@pytest.mark.parametrize(("refit", "mode"), [(True, "loop"), (True, "vmap"), (False, "loop")])
def test_audit_curves_change_with_the_test_subject_and_nothing_else(refit: bool, mode: str) -> None:
    """--audit records fold k's test predictions after every epoch. Corrupting the test subject changes
    those curves and nothing a selection reads; recording them changes nothing else at all."""
    data = random_eval_data()
    audited = EvaluationSettings(refit=refit, seed=7, fold_batching=mode, audit=True)
    clean, corrupted = _run_twice(data, 3, audited, batch=(0, 5))
    assert selection_differences(clean, corrupted) == []
    assert len(clean.test.curve) == CONFIG.training.max_epochs
    assert all(len(epoch) == len(clean.test.ids) for epoch in clean.test.curve)
    assert clean.test.curve != corrupted.test.curve

    plain = _run_twice(data, 3, replace(audited, audit=False), batch=(0, 5))[0]
    assert plain.test.curve is None
    assert selection_differences(clean, plain) == []
    assert (clean.test.y_pred, clean.test.probs) == (plain.test.y_pred, plain.test.probs)
    if refit:  # the nested prediction is the audit model's prediction at the selected epoch
        assert clean.test.curve[clean.selection.best_epoch - 1] == clean.test.y_pred
    a, b = TrialOutcome(data.classes, [clean]), TrialOutcome(data.classes, [corrupted])
    assert a.objective() == b.objective() == TrialOutcome(data.classes, [plain]).objective()


def test_stored_outcomes_keep_the_audit_curves(tmp_path) -> None:  # noqa: ANN001
    """The curves reach the results store (for merauto audit) in the trial's outcome, next to the test predictions."""
    from merauto.results.store import ResultsStore

    data = random_eval_data()
    outcome = nested.evaluate_trial(CONFIG, data, EvaluationSettings(seed=1, audit=True), rungs=[[0, 1]])
    store = ResultsStore(tmp_path)
    store.record("s", 0, state="complete", config=CONFIG, preset=None, outcome=outcome)
    stored = store.trials("s")[0].outcome
    assert [f.test.curve for f in stored.folds] == [f.test.curve for f in outcome.folds]
    assert stored.objective() == outcome.objective()


def test_ensemble_members_of_a_fold_never_depend_on_its_test_subject(tmp_path) -> None:  # noqa: ANN001
    """Three candidates evaluated on every fold, then again with fold 2's test subject corrupted: the
    per-fold ensemble of fold 2 picks the same members; only its test predictions change."""
    from merauto.results.ensemble import per_fold_ensemble
    from merauto.results.store import ResultsStore

    data, fold = random_eval_data(), 2
    settings = EvaluationSettings(seed=5)
    folds = study_folds(data, settings)
    candidates = [
        CONFIG,
        replace(CONFIG, training=replace(CONFIG.training, lr=CONFIG.training.lr * 3)),
        replace(CONFIG, training=replace(CONFIG.training, max_epochs=3)),
    ]
    members, predictions = [], []
    for name, dataset in (("clean", data), ("corrupted", _corrupt_test_rows(data, folds[fold].test))):
        (tmp_path / name).mkdir()
        store = ResultsStore(tmp_path / name)
        for number, config in enumerate(candidates):
            outcome = nested.evaluate_trial(config, dataset, settings)
            store.record("s", number, state="complete", config=config, preset=None, outcome=outcome)
        result = per_fold_ensemble(store.trials("s"), size=5, n_resamples=100)
        members.append(result.members[fold])
        rows = np.flatnonzero(np.isin(result.estimate.subjects, data.subjects[folds[fold].test]))
        predictions.append(result.estimate.y_pred[rows].tolist() + result.estimate.y_true[rows].tolist())
    assert members[0] == members[1]
    assert predictions[0] != predictions[1]


def test_confirmed_selection_of_a_fold_never_depends_on_its_test_subject(tmp_path) -> None:  # noqa: ANN001
    """Two candidates evaluated with the search's seed and a new one (merauto confirm's repetition), then
    again with fold 1's test subject corrupted: fold 1's scores averaged over the seeds and its
    confirmed per-fold choice are the same; only the outer scores change."""
    from merauto.results.selection import confirmed_per_fold_selection
    from merauto.results.store import RepeatRecord, ResultsStore

    data, fold = random_eval_data(), 1
    settings = EvaluationSettings(seed=5)
    folds = study_folds(data, settings)
    candidates = [CONFIG, replace(CONFIG, training=replace(CONFIG.training, lr=CONFIG.training.lr * 3))]
    chosen, outer = [], []
    for name, dataset in (("clean", data), ("corrupted", _corrupt_test_rows(data, folds[fold].test))):
        (tmp_path / name).mkdir()
        store = ResultsStore(tmp_path / name)
        for number, config in enumerate(candidates):
            store.record(
                "s", number, state="complete", config=config, preset=None, outcome=nested.evaluate_trial(config, dataset, settings)
            )
            again = nested.evaluate_trial(config, dataset, replace(settings, seed=1005))
            test = again.test_scores()
            record = RepeatRecord(number, 1005, again.objective(), test["uf1"], test["uar"], test["accuracy"])
            store.record_repeat("s", record, {f.selection.fold: f.selection.inner_uf1 for f in again.folds})
        store.record_confirmation("s", [0, 1])
        trials = store.trials("s")
        estimate = confirmed_per_fold_selection(trials)
        chosen.append((estimate.fold_trials[fold], [t.confirmed_fold_score(fold) for t in trials]))
        outer.append([r.outer_uf1 for r in store.repeats("s")])
    assert chosen[0] == chosen[1]
    assert outer[0] != outer[1]


def test_the_canary_corrupts_the_named_rows_only_and_the_control_nothing() -> None:
    data = random_eval_data()
    rows = np.flatnonzero(data.subjects == "s02")
    assert data.corrupted(rows, "control", 0) == data
    relabelled, noisy = data.corrupted(rows, "labels", 0), data.corrupted(rows, "all", 0)
    others = np.setdiff1d(np.arange(len(data.labels)), rows)
    assert (relabelled.labels[rows] == (data.labels[rows] + 1) % 3).all()  # every test label wrong, by a class shift
    assert np.array_equal(relabelled.inputs["flow"], data.inputs["flow"])
    assert sorted(noisy.labels[rows]) == sorted((data.labels[rows] + 1) % 3)
    assert not np.isclose(noisy.inputs["flow"][rows], data.inputs["flow"][rows]).any()
    for corrupted in (relabelled, noisy):
        assert np.array_equal(corrupted.labels[others], data.labels[others])
        assert np.array_equal(corrupted.inputs["flow"][others], data.inputs["flow"][others])
    with pytest.raises(ValueError, match="canary 'most'"):
        data.corrupted(rows, "most", 0)


def test_an_unknown_canary_is_refused_before_anything_is_imported_or_run(tmp_path) -> None:  # noqa: ANN001
    """The search's option checks name the setting and the canaries there are, before torch is imported or a folder made."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from merauto.errors import MerautoError\n"
        "from merauto.orchestrator.options import SearchOptions, validate\n"
        f"options = SearchOptions(__import__('merauto.data.datasets', fromlist=['x']).DatasetRequest(), Path({str(tmp_path)!r}) / 'run', "
        f"'s', Path({str(tmp_path)!r}) / 'cache', canary='most')\n"
        "try:\n    validate(options)\nexcept MerautoError as exc:\n    print(exc)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "canary 'most' is not a leak canary" in out and "control, labels, all" in out
    assert out.strip().endswith("False")
    assert not (tmp_path / "run").exists()
