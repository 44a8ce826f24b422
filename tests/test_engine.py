"""The training engine: batched (vmap) and one-by-one (loop) training agree; masks freeze members."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import random_eval_data

from merauto.errors import MerautoError, TrialDiverged
from merauto.evaluator import engine
from merauto.evaluator.dispatch_count import DispatchCounter
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.fidelity import DEFAULT_ALPHA, DEFAULT_REDUCTION, MIN_RUNG_FOLDS, Pruning, fold_rungs, parse_pruning, rung_sizes
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.heads import TASKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model
from merauto.evaluator.nested import EvalData, evaluate_trial, study_folds
from merauto.evaluator.protocol import outer_loso
from merauto.evaluator.settings import EvaluationSettings
from merauto.evaluator.strategies import STRATEGIES, Checkpoint, distillation_loss, ganin_lambda, reverse_gradient, widen
from merauto.pipeline.config import Choice
from merauto.search_space.presets import PRESETS

STSTNET = PRESETS["ststnet"]
RESIDUAL_WITH_DROPOUT = replace(
    STSTNET,
    topology=Choice("stacked", {"depth": 2, "width": 6}),
    block=Choice("residual", {"kernel": 3}),
    loss=Choice("focal", {"gamma": 2.0}),
    training=replace(STSTNET.training, dropout=0.3, batch_size=8),
)


def _model_sets(config, modes=("loop", "vmap"), data: EvalData | None = None) -> dict[str, tuple[ModelSet, list[np.ndarray]]]:  # noqa: ANN001
    data = data or random_eval_data()
    folds = outer_loso(data.subjects)
    members = [Member(train, 10 + k) for k, (train, _) in enumerate(folds)]
    out = {}
    for mode in modes:
        models = ModelSet(config, data.inputs, data.labels, members, 3, torch.device("cpu"), mode, targets=data.row_targets())
        for epoch in range(4):  # members stop at different epochs: masks must freeze them exactly
            models.train_epoch([epoch < 2 + k % 3 for k in range(len(members))])
        out[mode] = (models, models.predict_proba(list(range(len(folds))), [test for _, test in folds]))
    return out


def _meaningful(config, name: str) -> bool:  # noqa: ANN001
    """Parameters with a real gradient. Every convolution bias in these blocks feeds batch norm,
    so its true gradient is zero; Adam scales its floating-point noise up to +-lr per step, so it
    differs between any two summation orders without changing what the model computes."""
    model = build_model(config, {"flow": (3, 12, 12)}, 3)
    pre_norm = {f"{n}.bias" for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None}
    return name not in pre_norm


@pytest.mark.parametrize("config", [STSTNET, RESIDUAL_WITH_DROPOUT], ids=["ststnet", "residual-dropout-focal"])
def test_batched_and_sequential_training_give_the_same_predictions(config) -> None:  # noqa: ANN001
    runs = _model_sets(config)
    loop_set, vmap_set = runs["loop"][0], runs["vmap"][0]
    for loop, vmap in zip(runs["loop"][1], runs["vmap"][1], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=2e-3)
        np.testing.assert_array_equal(loop.argmax(1), vmap.argmax(1))
    for name in loop_set.params:
        if _meaningful(config, name):
            torch.testing.assert_close(loop_set.params[name], vmap_set.params[name], atol=1e-5, rtol=1e-4)
    assert list(loop_set.epochs_done) == [2 + k % 3 if k % 3 < 2 else 4 for k in range(6)]


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_trains_the_same_batched_and_sequentially(loss: str) -> None:
    """On a feature-vector stream (a linear trunk without batch norm, so no pre-norm bias noise),
    with dropout: every parameter, head parameters included, and every prediction agree."""
    data = random_eval_data()
    data = replace(data, inputs={"lbp": data.inputs["flow"].reshape(len(data.labels), -1)})
    config = replace(RESIDUAL_WITH_DROPOUT, loss=Choice(loss, LOSSES.get(loss).resolve({})))
    runs = _model_sets(config, data=data)
    loop_set, vmap_set = runs["loop"][0], runs["vmap"][0]
    for loop, vmap in zip(runs["loop"][1], runs["vmap"][1], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=1e-4)
    for name in loop_set.params:
        torch.testing.assert_close(loop_set.params[name], vmap_set.params[name], atol=1e-5, rtol=1e-4)


def test_a_member_trained_alone_equals_the_same_member_in_a_set() -> None:
    data = random_eval_data()
    train, test = outer_loso(data.subjects)[2]
    alone = ModelSet(STSTNET, data.inputs, data.labels, [Member(train, 5)], 3, torch.device("cpu"), "loop")
    others = [Member(tr, 100 + k) for k, (tr, _) in enumerate(outer_loso(data.subjects))]
    crowd = ModelSet(STSTNET, data.inputs, data.labels, [*others[:2], Member(train, 5), *others[2:]], 3, torch.device("cpu"), "loop")
    for _ in range(3):
        alone.train_epoch([True])
        crowd.train_epoch([True] * crowd.size)
    np.testing.assert_array_equal(alone.predict_proba([0], [test])[0], crowd.predict_proba([2], [test])[0])


def test_engine_matches_torch_adamw_for_one_member() -> None:
    """One member, one full batch per epoch: the engine's masked AdamW is torch.optim.AdamW."""
    data = random_eval_data()
    rows = np.arange(len(data.labels))
    config = replace(STSTNET, training=replace(STSTNET.training, batch_size=len(rows), class_weighting="none"))
    models = ModelSet(config, data.inputs, data.labels, [Member(rows, 3)], 3, torch.device("cpu"), "loop")
    torch.manual_seed(3)
    reference = build_model(config, {"flow": data.inputs["flow"].shape[1:]}, 3)
    optimiser = torch.optim.AdamW(reference.parameters(), lr=config.training.lr, weight_decay=config.training.weight_decay)
    stats = models.standardisers[0]
    x = torch.from_numpy((data.inputs["flow"] - stats.mean["flow"][:, None, None]) / stats.std["flow"][:, None, None])
    y = torch.from_numpy(data.labels)
    generator = torch.Generator().manual_seed(3)  # the member's generator: one permutation per epoch
    for _ in range(3):
        models.train_epoch([True])
        order = torch.randperm(len(rows), generator=generator)
        loss = torch.nn.functional.cross_entropy(reference({"flow": x[order]}), y[order])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    trained = models.state_dict(0)
    for name, value in reference.named_parameters():  # running means carry the pre-norm bias noise too
        if _meaningful(config, name):
            torch.testing.assert_close(trained[name], value, atol=1e-5, rtol=1e-4)


def test_divergence_is_raised_as_trial_diverged() -> None:
    data = random_eval_data()
    config = replace(STSTNET, training=replace(STSTNET.training, lr=1e12))
    models = ModelSet(config, data.inputs, data.labels, [Member(np.arange(30), 0)], 3, torch.device("cpu"))
    with pytest.raises(TrialDiverged):
        for _ in range(5):
            models.train_epoch([True])
            models.predict_proba([0], [np.arange(30)])


def test_rungs_are_nested_stratified_and_fixed_for_a_study() -> None:
    data = random_eval_data(n_subjects=30, per_subject=3)
    settings = EvaluationSettings(seed=4)
    folds = study_folds(data, settings)
    rungs = fold_rungs(folds, data.sources, seed=4, reduction=3, min_folds=3)
    assert [len(r) for r in rungs] == rung_sizes(30, 3, 3) == [4, 10, 30]
    assert all(set(a) <= set(b) for a, b in zip(rungs, rungs[1:], strict=False))
    assert rungs == fold_rungs(study_folds(data, settings), data.sources, seed=4, reduction=3, min_folds=3)
    first_sources = {data.sources[folds[k].test[0]] for k in rungs[0]}
    assert first_sources == {"a", "b"}, "the first rung draws from every source"
    assert rung_sizes(6, 3, 4) == [6]


def test_asha_defaults_to_reduction_factor_4_rungs_5_17_68_on_the_composite() -> None:
    assert parse_pruning("asha") == Pruning("asha", DEFAULT_REDUCTION) and DEFAULT_REDUCTION == 4
    assert parse_pruning("asha:3") == Pruning("asha", 3) and parse_pruning("none") is None
    assert parse_pruning("race") == Pruning("race", DEFAULT_REDUCTION, DEFAULT_ALPHA) and parse_pruning("race:0.1").alpha == 0.1
    assert rung_sizes(68, DEFAULT_REDUCTION, MIN_RUNG_FOLDS) == [5, 17, 68]
    assert rung_sizes(12, DEFAULT_REDUCTION, MIN_RUNG_FOLDS) == [12]  # too few folds: one rung, no pruning
    for text in ("asha:1", "race:1", "race:x", "hyperband"):
        with pytest.raises(MerautoError, match="asha:ETA"):
            parse_pruning(text)


def test_each_rung_reports_the_pooled_inner_score_of_its_folds_only() -> None:
    data = random_eval_data()
    config = replace(STSTNET, training=replace(STSTNET.training, max_epochs=3, batch_size=8))
    seen: list[tuple[int, float, int]] = []
    outcome = evaluate_trial(
        config,
        data,
        EvaluationSettings(seed=1),
        rungs=[[1, 4], [0, 1, 2, 3, 4, 5]],
        on_rung=lambda r, so_far: seen.append((r, so_far.objective(), len(so_far.folds))),
    )
    assert [(r, n) for r, _, n in seen] == [(0, 2), (1, 6)]
    first = type(outcome)(outcome.classes, outcome.folds[:2])
    assert seen[0][1] == first.objective() and seen[1][1] == outcome.objective()
    assert sorted(f.selection.fold for f in outcome.folds) == list(range(6))


@pytest.mark.parametrize("fusion", ["concat", "sum", "attention"])
def test_every_fusion_trains_the_same_batched_and_sequentially(fusion: str) -> None:
    """Two streams (an image and a feature vector) fused by ``fusion``: loop and vmap agree."""
    data = random_eval_data()
    data = replace(data, inputs={"flow": data.inputs["flow"], "lbp": data.inputs["flow"][:, 0].reshape(len(data.labels), -1)})
    config = replace(RESIDUAL_WITH_DROPOUT, fusion=Choice(fusion, FUSIONS.get(fusion).resolve({})))
    runs = _model_sets(config, data=data)
    for loop, vmap in zip(runs["loop"][1], runs["vmap"][1], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=2e-3)
    model = build_model(config, {"flow": (3, 12, 12), "lbp": (144,)}, 3)
    assert model.feature_dim == (64 if fusion != "concat" else 6 * 2 + 64)
    assert model({"flow": torch.randn(2, 3, 12, 12), "lbp": torch.randn(2, 144)}).shape == (2, 3)


def test_concat_fusion_keeps_the_model_of_configs_written_before_fusion() -> None:
    """A config without a fusion slot loads as concat and builds the same parameters, from the same seed."""
    old = STSTNET.to_dict()
    del old["fusion"]
    loaded = type(STSTNET).from_dict(old)
    assert loaded.fusion == Choice("concat")
    torch.manual_seed(0)
    before = build_model(STSTNET, {"flow": (3, 12, 12)}, 3).state_dict()
    torch.manual_seed(0)
    after = build_model(loaded, {"flow": (3, 12, 12)}, 3).state_dict()
    assert list(before) == list(after) and all(torch.equal(before[k], after[k]) for k in before)


def _with_action_units(data: EvalData, seed: int = 0) -> EvalData:
    """``data`` with random multi-hot codes of 4 action units on every row."""
    units = (np.random.default_rng(seed).random((len(data.labels), 4)) < 0.4).astype(np.float32)
    return replace(data, action_units=units)


@pytest.mark.parametrize(
    ("tasks", "strategy"),
    [("source", "scratch"), ("au", "scratch"), ("single", "dann"), ("single", "distill")],
)
def test_every_task_and_strategy_trains_the_same_batched_and_sequentially(tasks: str, strategy: str) -> None:
    """Auxiliary heads, the domain adversary and distillation from per-member teachers: on a
    feature-vector stream (no pre-norm bias noise, see above), every parameter and prediction agree."""
    config = replace(
        RESIDUAL_WITH_DROPOUT,
        tasks=Choice(tasks, TASKS.get(tasks).resolve({})),
        strategy=Choice(strategy, STRATEGIES.get(strategy).resolve({})),
        training=replace(RESIDUAL_WITH_DROPOUT.training, max_epochs=4),
    )
    data = _with_action_units(random_eval_data())
    data = replace(data, inputs={"lbp": data.inputs["flow"].reshape(len(data.labels), -1)})
    runs = _model_sets(config, data=data)
    loop_set, vmap_set = runs["loop"][0], runs["vmap"][0]
    assert set(loop_set.terms) == ({"task"} if tasks != "single" else {"strategy"})
    for loop, vmap in zip(runs["loop"][1], runs["vmap"][1], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=1e-4)
    for name in loop_set.params:
        torch.testing.assert_close(loop_set.params[name], vmap_set.params[name], atol=1e-5, rtol=1e-4)


def test_the_identity_task_and_strategy_train_bit_identically_to_configs_without_them() -> None:
    """Configs stored before the slots load as single/scratch and add no parameter or loss term."""
    old = STSTNET.to_dict()
    del old["tasks"], old["strategy"]
    loaded = type(STSTNET).from_dict(old)
    assert (loaded.tasks.name, loaded.strategy.name) == ("single", "scratch")
    models = _model_sets(loaded, modes=("loop",))["loop"][0]
    assert models.terms == {} and not any(k.startswith("aux.") for k in models.params)


def test_gradient_reversal_is_the_identity_forward_and_negates_gradients() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x.detach())
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, torch.full_like(x, -0.7))
    assert ganin_lambda(0.0) == 0.0 and 0.99 < ganin_lambda(1.0) < 1.0


def test_distillation_widens_the_topology_and_its_loss_vanishes_on_the_teachers_logits() -> None:
    wide = widen(PRESETS["ststnet"], 4)
    assert [wide.topology.params[f"width_{i}"] for i in range(3)] == [4 * STSTNET.topology.params[f"width_{i}"] for i in range(3)]
    logits = torch.randn(5, 3)
    assert float(distillation_loss(logits, logits, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(logits, -logits, 4.0)) > 0


def test_an_exported_state_dict_leaves_the_training_only_heads_out() -> None:
    data = random_eval_data()
    config = replace(STSTNET, tasks=Choice("source", {"weight": 0.3}), strategy=Choice("dann", {"lambda_max": 1.0}))
    models = ModelSet(config, data.inputs, data.labels, [Member(np.arange(30), 0)], 3, torch.device("cpu"), targets=data.row_targets())
    assert {k.split(".")[1] for k in models.params if k.startswith("aux.")} == {"task", "strategy"}
    models.train_epoch([True])
    build_model(config, {"flow": (3, 12, 12)}, 3).load_state_dict(models.state_dict(0))


def test_finetuning_starts_every_member_from_the_checkpoint_and_names_a_file_that_does_not_fit(tmp_path) -> None:  # noqa: ANN001
    data = random_eval_data()
    pretrained = ModelSet(STSTNET, data.inputs, data.labels, [Member(np.arange(18), 1)], 3, torch.device("cpu"), "loop")
    pretrained.train_epoch([True])
    path = tmp_path / "model.pt"
    torch.save({"state_dict": pretrained.state_dict(0)}, path)
    config = replace(STSTNET, tasks=Choice("source", {"weight": 0.3}), strategy=Choice("finetune"))
    members = [Member(np.arange(18, 36), 7), Member(np.arange(30), 8)]
    models = ModelSet(
        config, data.inputs, data.labels, members, 3, torch.device("cpu"), targets=data.row_targets(), init=Checkpoint.load(path)
    )
    for m in range(2):
        state = models.state_dict(m)
        assert all(torch.equal(state[k], v) for k, v in pretrained.state_dict(0).items())
    models.train_epoch([True, True])
    wider = replace(config, topology=Choice("branches", {"n": 3, "width_0": 4, "width_1": 5, "width_2": 8}))
    with pytest.raises(MerautoError, match=r"model\.pt does not fit .*branches\.0"):
        ModelSet(wider, data.inputs, data.labels, members, 3, torch.device("cpu"), init=Checkpoint.load(path))
    with pytest.raises(MerautoError, match="init-checkpoint"):
        ModelSet(config, data.inputs, data.labels, members, 3, torch.device("cpu"))


def _peak_saved_bytes(models: ModelSet) -> int:
    """The most bytes autograd held saved for backward at once during one training epoch."""
    live, peak = [0], [0]

    class Held:  # what autograd keeps instead of the tensor; freed with the graph that saved it
        def __init__(self, tensor: torch.Tensor) -> None:
            self.tensor, self.size = tensor, tensor.numel() * tensor.element_size()
            live[0] += self.size
            peak[0] = max(peak[0], live[0])

        def __del__(self) -> None:
            live[0] -= self.size

    with torch.autograd.graph.saved_tensors_hooks(Held, lambda held: held.tensor):
        models.train_epoch([True] * models.size)
    return peak[0]


def test_loop_training_holds_one_members_activations_however_many_folds() -> None:
    data = random_eval_data(n_subjects=8)
    folds = outer_loso(data.subjects)
    peaks = {}
    for n_members in (1, 8):
        members = [Member(train, k) for k, (train, _) in enumerate(folds[:n_members])]
        models = ModelSet(STSTNET, data.inputs, data.labels, members, 3, torch.device("cpu"), "loop")
        peaks[n_members] = _peak_saved_bytes(models)
    assert peaks[1] > 0 and peaks[8] < 1.5 * peaks[1]


def test_a_vmap_step_computes_every_members_loss_in_one_call() -> None:
    data = random_eval_data()
    members = [Member(train, k) for k, (train, _) in enumerate(outer_loso(data.subjects))]
    models = ModelSet(STSTNET, data.inputs, data.labels, members, 3, torch.device("cpu"), "vmap")
    with DispatchCounter() as ops:
        models.train_epoch([True] * len(members))
    steps = -(-max(len(m.rows) for m in members) // STSTNET.training.batch_size)
    assert ops.counts["aten._log_softmax"] == steps  # one cross-entropy per step, not one per member


@pytest.mark.parametrize("mode", ["loop", "vmap"])
def test_inference_runs_in_chunks_and_gives_the_unchunked_predictions(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_eval_data()
    folds = outer_loso(data.subjects)
    members = [Member(train, k) for k, (train, _) in enumerate(folds)]
    models = ModelSet(STSTNET, data.inputs, data.labels, members, 3, torch.device("cpu"), mode)
    models.train_epoch([True] * len(members))
    rows = [train for train, _ in folds]  # 30 rows each
    whole = models.predict_proba(range(len(members)), rows)
    batches: list[int] = []
    forward = models._forward  # noqa: SLF001 - observe the batch each forward pass sees

    def recording(members: list[int], x: dict, head_mask: object) -> object:
        batches.append(next(iter(x.values())).shape[1])
        return forward(members, x, head_mask)

    monkeypatch.setattr(engine, "INFERENCE_ROWS", 7)
    monkeypatch.setattr(models, "_forward", recording)
    chunked = models.predict_proba(range(len(members)), rows)
    assert batches and max(batches) <= 7
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
