"""Weight averaging (EMA, SWA) is what a member is evaluated with; class-balanced sampling draws classes equally."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import assert_vmap_matches_loop, random_eval_data

from merauto.evaluator.engine import Member, ModelSet
from merauto.pipeline.config import PipelineConfig, TrainingConfig
from merauto.search_space.presets import PRESETS

STSTNET = PRESETS["ststnet"]
MEMBERS = [Member(np.arange(0, 24), 3), Member(np.arange(12, 36), 4)]
ACTIVE = [[True, True], [True, False], [True, True]]  # member 1 sits out an epoch: its average must not move


def _config(**training: object) -> PipelineConfig:
    """STSTNet with one step per epoch (the batch holds every row) and the given training settings."""
    return replace(STSTNET, training=replace(STSTNET.training, **{"batch_size": 24, "max_epochs": len(ACTIVE), **training}))


def _train(config: PipelineConfig, mode: str) -> tuple[ModelSet, list[list[dict[str, torch.Tensor]]]]:
    """A set of two members trained for ``ACTIVE``, and each member's trained weights after each of its steps."""
    data = random_eval_data()
    models = ModelSet(config, data.inputs, data.labels, MEMBERS, 3, torch.device("cpu"), mode)
    trained: list[list[dict[str, torch.Tensor]]] = [[], []]
    for active in ACTIVE:
        models.train_epoch(active)
        for m in np.flatnonzero(active):
            trained[m].append({k: v[m].detach().clone() for k, v in {**models.params, **models.buffers}.items()})
    return models, trained


def test_configs_without_the_new_settings_load_and_train_as_before() -> None:
    old = json.loads(STSTNET.to_json())
    for key in ("averaging", "ema_decay", "swa_start", "sampling"):
        del old["training"][key]
    assert PipelineConfig.from_dict(old) == STSTNET
    assert (TrainingConfig().averaging, TrainingConfig().sampling) == ("none", "shuffle")
    assert STSTNET.summary() == replace(STSTNET, training=replace(STSTNET.training, ema_decay=0.9)).summary()
    summary = _config(averaging="ema", ema_decay=0.9, sampling="balanced").summary()
    assert summary.endswith(" avg=ema(decay=0.9) sampling=balanced")
    models, trained = _train(_config(), "loop")
    assert models.average is None  # evaluated with the trained weights: the code path of before
    assert all(torch.equal(models.snapshot(m)[k], v) for m in range(2) for k, v in trained[m][-1].items())


@pytest.mark.parametrize("mode", ["loop", "vmap"])
def test_ema_evaluates_the_debiased_moving_average_of_the_trained_weights(mode: str) -> None:
    decay = 0.9
    models, trained = _train(_config(averaging="ema", ema_decay=decay), mode)
    plain, plain_trained = _train(_config(), mode)
    for m in range(2):
        assert all(torch.equal(a[k], b[k]) for a, b in zip(trained[m], plain_trained[m], strict=True) for k in a)  # training unchanged
        t = len(trained[m])
        state = models.snapshot(m)
        for name, value in state.items():
            if value.is_floating_point():
                expected = sum(decay ** (t - i) * (1 - decay) * w[name] for i, w in enumerate(trained[m], start=1)) / (1 - decay**t)
                torch.testing.assert_close(value, expected, atol=1e-6, rtol=1e-5)
            else:
                assert torch.equal(value, trained[m][-1][name])  # batch counts are copied
        plain.restore(m, state)
    rows = [np.arange(24, 36), np.arange(0, 12)]
    for averaged, restored in zip(models.predict_proba([0, 1], rows), plain.predict_proba([0, 1], rows), strict=True):
        np.testing.assert_array_equal(averaged, restored)  # predictions read the averaged weights


def test_swa_averages_the_epochs_after_its_start_equally() -> None:
    data = random_eval_data()
    config = _config(averaging="swa", swa_start=0.5, max_epochs=4)  # the average starts after epoch 2
    models = ModelSet(config, data.inputs, data.labels, MEMBERS[:1], 3, torch.device("cpu"), "loop")
    trained = []
    for epoch in range(4):
        models.train_epoch([True])
        trained.append({k: v[0].detach().clone() for k, v in models.params.items()})
        if epoch < 2:
            assert all(torch.equal(models.snapshot(0)[k], v) for k, v in trained[-1].items())  # before the start: the trained weights
    for name, value in models.average.params.items():
        torch.testing.assert_close(value[0], (trained[2][name] + trained[3][name]) / 2)


def test_averaging_and_balanced_sampling_train_the_same_batched_and_sequentially() -> None:
    for training in ({"averaging": "ema", "ema_decay": 0.9}, {"averaging": "swa", "swa_start": 0.25}, {"sampling": "balanced"}):
        assert_vmap_matches_loop(replace(STSTNET, training=replace(STSTNET.training, batch_size=8, max_epochs=4, **training)))


def test_balanced_sampling_draws_every_class_equally_from_imbalanced_rows() -> None:
    data = random_eval_data(n_subjects=10)
    labels = np.repeat([0, 1, 2], [42, 12, 6])  # 70%, 20%, 10%
    members = [Member(np.arange(60), 7), Member(np.arange(60), 8)]
    draws = {}
    for sampling in ("shuffle", "balanced"):
        config = replace(STSTNET, training=replace(STSTNET.training, sampling=sampling))
        models = ModelSet(config, data.inputs, labels, members, 3, torch.device("cpu"), "loop")
        draws[sampling] = [torch.cat([models._draw(m) for _ in range(30)]).numpy() for m in range(2)]  # noqa: SLF001
        seed = torch.Generator().manual_seed(7)
        again = ModelSet(config, data.inputs, labels, members, 3, torch.device("cpu"), "loop")._draw(0)  # noqa: SLF001
        assert torch.equal(again, torch.from_numpy(draws[sampling][0][:60]))  # seeded by the member's own seed
        if sampling == "shuffle":  # the seeded permutation of before
            assert torch.equal(again, torch.randperm(60, generator=seed))
    for drawn in draws["balanced"]:
        assert len(drawn) == 30 * 60  # as many rows per epoch, so as many steps
        np.testing.assert_allclose(np.bincount(labels[drawn], minlength=3) / len(drawn), 1 / 3, atol=0.04)
    assert not np.array_equal(draws["balanced"][0], draws["balanced"][1])
    np.testing.assert_allclose(np.bincount(labels[draws["shuffle"][0]]) / len(draws["shuffle"][0]), [0.7, 0.2, 0.1])
