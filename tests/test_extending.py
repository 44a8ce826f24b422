"""A new input modality is one module: its stream builder and its input, registered; every layer then uses it.

The module below is what a contributor would add as ``merauto/data/inputs/difference.py``; here it
is imported from a temporary folder (and unregistered afterwards), so the test proves that it
needs nothing but its own file.
"""

from __future__ import annotations

import importlib.util
import textwrap
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from merauto.data.cache import FeatureCache
from merauto.data.features import inputs_for
from merauto.data.inputs import INPUTS
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import STREAM_BUILDERS
from merauto.evaluator.model import build_model
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.search_space.describe import space_tree
from merauto.search_space.space import define_by_run

MODULE = '''
"""difference: the apex frame minus the onset frame (a difference image)."""

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder


@stream_builder("difference", version="1", layout=lambda p: StreamLayout(("grey",)), uses=IMAGE_STEPS)
def build_difference(clip: PreparedClip) -> np.ndarray:
    return ((clip.frame(clip.apex) - clip.frame(clip.sample.onset)) / 255.0).astype(np.float32)[None]


@INPUTS.register
class DifferenceInput(InputKind):
    name = "difference"
    description = "the apex frame minus the onset frame"
    choices = {"size": (16, 28)}

    def stream_params(self, params):
        return {"difference": ("difference", {"size": int(params["size"])})}
'''


@pytest.fixture
def difference_modality(tmp_path: Path) -> Iterator[None]:
    path = tmp_path / "difference.py"
    path.write_text(textwrap.dedent(MODULE))
    spec = importlib.util.spec_from_file_location("difference_modality", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    yield
    del INPUTS._components["difference"], STREAM_BUILDERS["difference"]  # the registries as they were


def test_a_modality_in_one_module_is_searched_built_cached_described_and_trained(
    difference_modality: None, tiny_index: SampleIndex, cache_dir: Path
) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = set()
    for _ in range(60):
        trial = study.ask()
        config = define_by_run(trial)
        sampled.add(config.input.name)
        study.tell(trial, 0.0)
    assert "difference" in sampled  # the space offers it, with its preprocessing slots

    config = PipelineConfig(
        input=Choice("difference", {"size": 16}),
        face=Choice("haar"),
        topology=Choice("stacked"),
        block=Choice("conv_bn_relu"),
        loss=Choice("cross_entropy"),
    )
    inputs = inputs_for(config, tiny_index, FeatureCache(cache_dir))
    assert inputs["difference"].shape == (len(tiny_index), 1, 16, 16) and inputs["difference"].std() > 0
    model = build_model(config, {"difference": (1, 16, 16)}, 3)
    assert model.trunks["difference"] is not None
    inputs_branch = space_tree().children[0]  # merauto space lists it under the input slot
    assert any(str(node.label).startswith("[cyan]difference[/] (1 hyper-parameter)") for node in inputs_branch.children)
