"""The search space: configs round-trip, every sample builds and trains, presets are points of it."""

from __future__ import annotations

import optuna
import pytest
import torch

from merauto.data.inputs import INPUTS
from merauto.errors import MerautoError
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model, count_parameters
from merauto.search_space.config import PipelineConfig
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import resolve, sample_config

STREAM_SHAPES = {"flow_strain": (3, 28, 28), "apex_frame": (1, 28, 28)}


def _shapes(config: PipelineConfig) -> dict[str, tuple[int, ...]]:
    kind = INPUTS.get(config.input.name)
    return {name: STREAM_SHAPES[spec.kind] for name, spec in kind.streams(kind.resolve(config.input.params)).items()}


def _sampled(n: int, seed: int = 0) -> list[PipelineConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(sample_config(trial))
        study.tell(trial, 0.0)
    return configs


def test_sampled_configs_build_train_and_round_trip() -> None:
    configs = _sampled(40)
    assert {c.input.name for c in configs} == set(INPUTS.names())
    for config in configs:
        assert PipelineConfig.from_json(config.to_json()) == config
        assert resolve(PipelineConfig.from_params(config.to_params())) == config
        model = build_model(config, _shapes(config), 3)
        batch = {name: torch.randn(4, *shape) for name, shape in _shapes(config).items()}
        loss_kind = LOSSES.get(config.loss.name)
        loss = loss_kind.build(config.loss.params)(model(batch), torch.tensor([0, 1, 2, 0]), torch.ones(3))
        loss.backward()
        assert torch.isfinite(loss)


def test_ststnet_preset_has_the_papers_1683_parameters() -> None:
    config = PRESETS["ststnet"]
    model = build_model(config, _shapes(config), 3)
    assert count_parameters(model) == 1683
    assert model({"flow": torch.randn(2, 3, 28, 28)}).shape == (2, 3)


def test_presets_are_points_of_the_space() -> None:
    for name, config in PRESETS.items():
        study = optuna.create_study()
        study.enqueue_trial(config.to_params())
        trial = study.ask()
        assert resolve(sample_config(trial)) == resolve(config), name


def test_unknown_component_names_the_choices() -> None:
    with pytest.raises(MerautoError, match="flow_strain"):
        INPUTS.get("optical-flow")
