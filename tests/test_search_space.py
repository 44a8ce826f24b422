"""The search space: configs round-trip, every sampled option builds its inputs and trains, presets are points of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from merauto.data.cache import FeatureCache
from merauto.data.features import inputs_for
from merauto.data.inputs import INPUTS, pipeline_streams
from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.heads import RowTargets
from merauto.evaluator.model import build_model, count_parameters
from merauto.pipeline.config import SLOTS, Choice, PipelineConfig
from merauto.search_space.describe import sample_configs
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import REGISTRIES, SpaceContext, define_by_run, resolve


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: more torch threads only add overhead (a lot of it on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def few_clips(tiny_index: SampleIndex) -> SampleIndex:
    """Three clips from the three sources (one without an apex annotation): enough to build every stream."""
    first = {}
    for i, sample in enumerate(tiny_index):
        first.setdefault(sample.dataset, i)
    return tiny_index.subset(sorted(first.values()))


def _options(config: PipelineConfig) -> set[tuple[str, str]]:
    return {(slot, getattr(config, slot).name) for slot in SLOTS}


def _covering(configs: list[PipelineConfig]) -> list[PipelineConfig]:
    """A few of ``configs`` that together sample every option any of them samples (greedy set cover)."""
    left, chosen = set().union(*map(_options, configs)), []
    while left:
        best = max(configs, key=lambda c: len(_options(c) & left))
        chosen.append(best)
        left -= _options(best)
    return chosen


@pytest.mark.usefixtures("one_thread")
def test_every_sampled_option_builds_its_inputs_trains_and_round_trips(few_clips: SampleIndex, cache_dir: Path) -> None:
    configs = sample_configs(60)
    for slot in SLOTS:
        sampled = {getattr(c, slot).name for c in configs}
        assert sampled == {c.name for c in REGISTRIES[slot] if c.available()}, slot
    for config in configs:
        assert PipelineConfig.from_json(config.to_json()) == config
        assert resolve(PipelineConfig.from_params(config.to_params())) == config
    cache = FeatureCache(cache_dir)
    labels = np.arange(len(few_clips)) % 3
    for config in _covering(configs):
        # Options are what is tested here, not optimisation: a sampled learning rate may make a
        # distillation teacher diverge on 10 clips (a search records that trial as failed).
        config = replace(config, training=replace(config.training, lr=1e-3))
        inputs = inputs_for(config, few_clips, cache)
        assert set(inputs) == set(pipeline_streams(config))
        rows = np.arange(len(few_clips))
        targets = RowTargets.of(few_clips.sources, few_clips.action_unit_matrix())
        models = ModelSet(config, inputs, labels, [Member(rows, 0)], 3, torch.device("cpu"), targets=targets)
        models.train_epoch([True])
        (probs,) = models.predict_proba([0], [rows])
        assert probs.shape == (len(few_clips), 3) and np.isfinite(probs).all()


def test_steps_are_sampled_only_where_they_act_and_landmark_options_need_landmarks() -> None:
    for config in sample_configs(60, seed=1, context=SpaceContext(landmarks=False)):
        assert config.input.name not in ("landmark_graph", "flow_landmarks") and config.roi.name != "landmark_patches"
        uses = INPUTS.get(config.input.name).uses(config.input.params)
        for slot, identity in (("face", "none"), ("magnification", "none"), ("roi", "whole")):
            assert slot in uses or getattr(config, slot).name == identity


def test_configs_written_before_the_preprocessing_slots_load_as_what_they_ran() -> None:
    old = json.loads(PRESETS["ststnet"].to_json())
    for slot in ("face", "magnification", "roi", "augment"):
        del old[slot]
    assert PipelineConfig.from_dict(old) == PRESETS["ststnet"]
    old_params = {
        k: v for k, v in PRESETS["ststnet"].to_params().items() if k.split(".")[0] in ("input", "topology", "block", "loss", "training")
    }
    assert PipelineConfig.from_params(old_params) == PRESETS["ststnet"]


# Stream shapes and parameter counts of each preset (worked out in presets.py against its paper).
FLOW_28 = {"flow": (3, 28, 28)}
PRESET_SIZES = {
    "ststnet": (FLOW_28, 1683),
    "off_apexnet": (FLOW_28, 4643),
    "dual_inception": (FLOW_28, 3499),
    "rcn": (FLOW_28, 5235),
    "lbp_top_linear": ({"lbp_top": (3 * 5 * 5 * 59,)}, 13278),
}


def test_every_preset_is_sized() -> None:
    assert set(PRESET_SIZES) == set(PRESETS)


@pytest.mark.parametrize("name", PRESET_SIZES)
def test_preset_has_its_parameter_count_and_three_class_output(name: str) -> None:
    shapes, parameters = PRESET_SIZES[name]
    config = PRESETS[name]
    assert set(shapes) == set(pipeline_streams(config))
    model = build_model(config, shapes, 3)
    assert count_parameters(model) == parameters
    assert model({stream: torch.randn(2, *shape) for stream, shape in shapes.items()}).shape == (2, 3)


def test_lbp_top_linear_is_a_linear_classifier_and_old_vector_configs_keep_their_mlp() -> None:
    model = build_model(PRESETS["lbp_top_linear"], {"lbp_top": (12,)}, 3)
    assert isinstance(model.trunks["lbp_top"], torch.nn.Identity)
    assert [type(m) for m in model.modules() if any(True for _ in m.parameters(recurse=False))] == [torch.nn.Linear]
    old = replace(PRESETS["lbp_top_linear"], input=Choice("lbp_top", {"blocks": 5}))
    assert count_parameters(build_model(old, {"lbp_top": (12,)}, 3)) == 12 * 64 + 64 + 64 * 3 + 3


def test_presets_are_points_of_the_space() -> None:
    for name, config in PRESETS.items():
        study = optuna.create_study()
        study.enqueue_trial(config.to_params())
        trial = study.ask()
        assert resolve(define_by_run(trial)) == resolve(config), name


def test_unknown_component_names_the_choices() -> None:
    with pytest.raises(MerautoError, match="flow_strain"):
        INPUTS.get("optical-flow")


def test_fusion_is_sampled_only_for_inputs_with_more_than_one_stream() -> None:
    configs = sample_configs(60, seed=2)
    for config in configs:
        streams = INPUTS.get(config.input.name).stream_params(config.input.params)
        assert len(streams) > 1 or config.fusion.name == "concat"
    assert {c.fusion.name for c in configs} == {"concat", "sum", "attention"}


def test_auxiliary_heads_domain_adversaries_and_finetuning_are_sampled_only_where_their_data_exist() -> None:
    for config in sample_configs(40, seed=3, context=SpaceContext(n_sources=1, au_labels=False)):
        assert config.tasks.name == "single" and config.strategy.name != "dann"
    composite = sample_configs(40, seed=3, context=SpaceContext(n_sources=3, au_labels=True))
    assert {c.tasks.name for c in composite} == {"single", "source", "au"}
    assert {c.strategy.name for c in composite} == {"scratch", "dann", "distill"}
    pretrained = sample_configs(40, seed=3, context=SpaceContext(pretrained=True))
    assert {c.strategy.name for c in pretrained} == {"scratch", "distill", "finetune"}


def test_the_synthetic_composite_is_au_coded_and_has_three_sources(tiny_index: SampleIndex) -> None:
    context = SpaceContext.of(tiny_index)
    assert context.n_sources == 3 and context.au_labels
    units = tiny_index.action_unit_matrix()
    assert units.shape[0] == len(tiny_index) and units.sum(1).min() >= 1
    first, second = tiny_index.samples[:2]
    uncoded = SampleIndex("part", tiny_index.classes, (replace(first, action_units=""), second))
    assert uncoded.action_unit_matrix() is None
