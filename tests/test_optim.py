"""Optimisers and schedules: the engine's stacked updates are torch.optim's, per member."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest
import torch
from conftest import random_eval_data

from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.model import build_model
from merauto.evaluator.optim import AVERAGING, OPTIMISERS, SCHEDULES
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import define_by_run

REFERENCE_OPTIMISERS = {
    "adamw": lambda params, lr, decay: torch.optim.AdamW(params, lr=lr, weight_decay=decay),
    "sgd": lambda params, lr, decay: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=decay),
}


def _reference_schedule(name: str, optimiser: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """torch.optim's scheduler for each schedule, stepped once per epoch."""
    sched = torch.optim.lr_scheduler
    if name == "constant":
        return sched.LambdaLR(optimiser, lambda _: 1.0)
    if name == "cosine":
        return sched.CosineAnnealingLR(optimiser, T_max=epochs)
    if name == "step":
        return sched.MultiStepLR(optimiser, milestones=[epochs // 2, 3 * epochs // 4], gamma=0.1)
    warm = max(1, round(0.1 * epochs))
    warmup = sched.LinearLR(optimiser, start_factor=1 / warm, total_iters=warm - 1)
    return sched.SequentialLR(optimiser, [warmup, sched.CosineAnnealingLR(optimiser, T_max=epochs - warm)], milestones=[warm])


def test_every_optimiser_and_schedule_has_a_reference() -> None:
    assert set(REFERENCE_OPTIMISERS) == set(OPTIMISERS.names())
    for name in SCHEDULES.names():
        _reference_schedule(name, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 20)


@pytest.mark.parametrize("name", SCHEDULES.names())
@pytest.mark.parametrize("epochs", [20, 40, 80])
def test_schedules_match_torch_schedulers(name: str, epochs: int) -> None:
    optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    reference = _reference_schedule(name, optimiser, epochs)
    for epoch in range(epochs):
        assert SCHEDULES.get(name).factor(epoch, epochs) == pytest.approx(optimiser.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        optimiser.step()
        reference.step()


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("optimiser", OPTIMISERS.names())
def test_engine_matches_torch_for_one_member(optimiser: str, schedule: str) -> None:
    """One member, one full batch per epoch, on a feature-vector stream (no batch norm)."""
    data = random_eval_data()
    x = data.inputs["flow"].reshape(len(data.labels), -1)
    rows = np.arange(len(data.labels))
    training = replace(PRESETS["ststnet"].training, batch_size=len(rows), class_weighting="none", max_epochs=8, lr=3e-2)
    config = replace(PRESETS["ststnet"], training=replace(training, optimiser=optimiser, schedule=schedule))
    models = ModelSet(config, {"lbp": x}, data.labels, [Member(rows, 3)], 3, torch.device("cpu"), "loop")
    torch.manual_seed(3)
    reference = build_model(config, {"lbp": x.shape[1:]}, 3)
    reference_optimiser = REFERENCE_OPTIMISERS[optimiser](reference.parameters(), training.lr, training.weight_decay)
    scheduler = _reference_schedule(schedule, reference_optimiser, training.max_epochs)
    stats = models.standardisers[0]
    inputs = torch.from_numpy((x - stats.mean["lbp"]) / stats.std["lbp"])
    y = torch.from_numpy(data.labels)
    generator = torch.Generator().manual_seed(3)  # the member's generator: one permutation per epoch
    for _ in range(7):  # the step schedule drops at epochs 4 and 6
        models.train_epoch([True])
        order = torch.randperm(len(rows), generator=generator)
        loss = torch.nn.functional.cross_entropy(reference({"lbp": inputs[order]}), y[order])
        reference_optimiser.zero_grad()
        loss.backward()
        reference_optimiser.step()
        scheduler.step()
    trained = models.state_dict(0)
    for name, value in reference.named_parameters():
        torch.testing.assert_close(trained[name], value, atol=1e-5, rtol=1e-4)


def test_configs_written_before_optimisers_and_schedules_load_as_adamw_at_a_constant_rate() -> None:
    old = json.loads(PRESETS["ststnet"].to_json())
    del old["training"]["optimiser"], old["training"]["schedule"]
    config = PipelineConfig.from_dict(old)
    assert (config.training.optimiser, config.training.schedule) == ("adamw", "constant")
    assert config == PRESETS["ststnet"]


def test_the_space_samples_every_optimiser_and_schedule_with_its_learning_rate_range() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = []
    for _ in range(30):
        trial = study.ask()
        sampled.append(define_by_run(trial).training)
        study.tell(trial, 0.0)
    assert {t.optimiser for t in sampled} == set(OPTIMISERS.names())
    assert {t.schedule for t in sampled} == set(SCHEDULES.names())
    assert {t.averaging for t in sampled} == set(AVERAGING.names()) and {t.sampling for t in sampled} == {"shuffle", "balanced"}
    assert all(OPTIMISERS.get(t.optimiser).lr_range[0] <= t.lr <= OPTIMISERS.get(t.optimiser).lr_range[1] for t in sampled)


def test_mixed_precision_is_cuda_only_and_its_forward_pass_trains_in_both_modes() -> None:
    """``amp`` is ignored on the CPU; forced on, the CPU's bfloat16 autocast runs the same code path."""
    data = random_eval_data()
    members = [Member(np.arange(0, 24), 1), Member(np.arange(12, 36), 2)]
    config = replace(PRESETS["ststnet"], training=replace(PRESETS["ststnet"].training, batch_size=8, dropout=0.2))
    for mode in ("loop", "vmap"):
        models = ModelSet(config, data.inputs, data.labels, members, 3, torch.device("cpu"), mode, amp=True)
        assert not models.amp
        models.amp = True
        models.train_epoch([True, True])
        models.train_epoch([True, False])
        probs = models.predict_proba([0, 1], [np.arange(24, 36), np.arange(0, 12)])
        assert all(np.isfinite(p).all() and p.dtype == np.float32 for p in probs)
        assert all(v.dtype == torch.float32 for v in models.params.values())
