"""Property test of the whole space: 200 sampled configs each build, run a forward and a
backward pass of their loss on a tiny batch, and round-trip through JSON and Optuna parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import torch

from merauto.data.cache import FeatureCache
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import StreamSpec
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model
from merauto.evaluator.temporal import TEMPORAL_TRUNKS
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.space import REGISTRIES, define_by_run, resolve

N_CONFIGS, BATCH = 200, 4

ShapeOf = Callable[[StreamSpec], tuple[int, ...]]


@pytest.fixture(scope="module")
def shape_of(tiny_index: SampleIndex, cache_dir: Path) -> ShapeOf:
    """A stream's per-sample shape, from building it for one clip (memoised per spec)."""
    builder = FeatureBuilder(tiny_index.subset([0]), FeatureCache(cache_dir))
    shapes: dict[StreamSpec, tuple[int, ...]] = {}

    def shape(spec: StreamSpec) -> tuple[int, ...]:
        if spec not in shapes:
            shapes[spec] = tuple(builder.stream(spec).shape[1:])
        return shapes[spec]

    return shape


def _stream_shapes(config: PipelineConfig, shape_of: ShapeOf) -> dict[str, tuple[int, ...]]:
    """Shapes of the config's streams. Face registration and magnification keep a map's shape,
    so the streams are built with the region step only (one build per input and region choice)."""
    kind = INPUTS.get(config.input.name)
    specs = kind.streams(kind.resolve(config.input.params), {"roi": (config.roi.name, config.roi.params)})
    return {name: shape_of(spec) for name, spec in specs.items()}


def test_sampled_configs_build_train_a_step_and_round_trip(shape_of: ShapeOf) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2024))
    seen: set[tuple[str, str]] = set()
    temporal: set[str] = set()
    for _ in range(N_CONFIGS):
        trial = study.ask()
        config = define_by_run(trial)
        study.tell(trial, 0.0)
        assert PipelineConfig.from_json(config.to_json()) == config
        assert resolve(PipelineConfig.from_params(config.to_params())) == config
        assert resolve(PipelineConfig.from_params(trial.params)) == config
        shapes = _stream_shapes(config, shape_of)
        torch.manual_seed(trial.number)
        model = build_model(config, shapes, 3)
        inputs = {name: torch.randn(BATCH, *shape) for name, shape in shapes.items()}
        logits, features = model(inputs, with_features=True)
        assert logits.shape == (BATCH, 3), config.summary()
        loss = LOSSES.get(config.loss.name)
        head = {k.removeprefix("head."): v for k, v in model.named_parameters() if k.startswith("head.")}
        loss.build(loss.resolve(config.loss.params))(logits, features, [(1.0, torch.arange(BATCH) % 3)], torch.ones(3), head).backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), config.summary()
        seen.update((slot, getattr(config, slot).name) for slot in REGISTRIES)
        temporal.add(config.input.params.get("temporal", "channels"))
    assert seen == {(slot, c.name) for slot, registry in REGISTRIES.items() for c in registry if c.available()}
    assert temporal == set(TEMPORAL_TRUNKS.names())
