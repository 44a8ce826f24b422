"""Every registered component of the exported network exports to ONNX, and onnxruntime computes what torch does.

The cases are read from the registries: every block, topology, vector trunk, temporal trunk, fusion and
classifier head (one loss per head class) gets a small network of its own, its streams shaped by the
layouts of a registered input whose streams the component reads, so a newly registered component is
exported here without a line of this file changing. A registry this file neither walks nor declares as
building no part of the exported network fails the last test.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import merauto
from merauto.data.inputs import INPUTS, InputKind, stream_layouts
from merauto.data.preprocessing.face import FACES
from merauto.data.preprocessing.magnify import MAGNIFICATIONS
from merauto.data.preprocessing.regions import REGIONS
from merauto.data.streams import StreamLayout
from merauto.evaluator.augment import AUGMENTS
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.heads import TASKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model
from merauto.evaluator.onnx_model import export_onnx, onnx_session, run_onnx, verify_onnx
from merauto.evaluator.optim import AVERAGING, OPTIMISERS, SCHEDULES
from merauto.evaluator.spotters import SPOTTERS
from merauto.evaluator.strategies import STRATEGIES
from merauto.evaluator.temporal import TEMPORAL_TRUNKS
from merauto.evaluator.topologies import TOPOLOGIES
from merauto.evaluator.vector_trunks import VECTOR_TRUNKS
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.pipeline.registry import Registry, embed
from merauto.results.export.folder import ONNX_ATOL, ONNX_RTOL
from merauto.search_space.presets import PRESETS

SIDE = 12  # image streams are SIDE x SIDE: every export takes a few seconds at most
VECTOR = 20  # values of a vector stream
LANDMARKS = 5  # points of a landmark graph stream: 2 x 5 displacements + 10 edge length changes
STACKED = Choice("stacked", {"depth": 2, "width": 4})  # the image trunk of the cases about other slots
BASE = replace(PRESETS["ststnet"], topology=STACKED)

# Registries whose components make no part of the ONNX model, and why.
NOT_EXPORTED: dict[Registry[Any], str] = {
    INPUTS: "streams, computed before the network (their layouts shape the cases' streams)",
    FACES: "preprocessing of the frames",
    MAGNIFICATIONS: "preprocessing of the frames",
    REGIONS: "preprocessing of the frames",
    AUGMENTS: "training only",
    OPTIMISERS: "training only",
    SCHEDULES: "training only",
    AVERAGING: "training only: the averaged weights are exported as any others",
    STRATEGIES: "training only: auxiliary heads are left out of the exported forward pass",
    TASKS: "auxiliary heads, left out of the exported forward pass",
    SPOTTERS: "spotting exports write no ONNX model",
}
WALKED = (BLOCKS, TOPOLOGIES, VECTOR_TRUNKS, TEMPORAL_TRUNKS, FUSIONS, LOSSES)  # losses: for their classifier heads


def _stream_shape(layout: StreamLayout) -> tuple[int, ...]:
    """A small stream laid out as ``layout``: a landmark graph, a vector, or its frames' channels at SIDE x SIDE."""
    if layout.landmark_graph:
        return (2 * LANDMARKS + LANDMARKS * (LANDMARKS - 1) // 2,)
    if layout.vector:
        return (VECTOR,)
    return (len(layout.roles) * layout.frames, SIDE, SIDE)


def _case(registry: Registry[Any], name: str, config: PipelineConfig) -> Any:
    """The pytest case of ``config`` (about ``name`` of ``registry``), its streams shaped by their layouts."""
    layouts = stream_layouts(config)
    opaque = [stream for stream, layout in layouts.items() if layout is None]
    assert not opaque, f"{config.input.name}: streams {opaque} have no layout to shape them by"
    shapes = {stream: _stream_shape(layout) for stream, layout in layouts.items() if layout is not None}
    return pytest.param(config, shapes, id=f"{registry.slot}-{name}")


def _input_reading(registry: Registry[Any], trunk: Any) -> InputKind:
    """The first registered input with a stream that ``trunk`` (of ``registry``) accepts."""
    kind = next((kind for kind in INPUTS if any(trunk.accepts(layout) for layout in kind.layouts(kind.resolve({})))), None)
    assert kind is not None, f"{registry.slot} {trunk.name} accepts the streams of no registered input"
    return kind


def _cases() -> list[Any]:
    """One small network for every registered component of the exported network."""
    cases = [_case(BLOCKS, b.name, replace(BASE, block=Choice(b.name, b.resolve({})))) for b in BLOCKS]
    cases += [_case(TOPOLOGIES, t.name, replace(BASE, topology=Choice(t.name, t.resolve({})))) for t in TOPOLOGIES]
    # parameters that change a topology's structure beyond its defaults: adaptive pooling to a grid that does not
    # divide the map (3x3 cells to 4x4), and the transformer tail of a cascade
    cases.append(_case(TOPOLOGIES, "stacked-pool4", replace(BASE, topology=Choice("stacked", {"depth": 2, "width": 4, "pool": 4}))))
    tail = {"depth": 1, "width": 4, "tail": "transformer", "encoder_layers": 2, "heads": 2, "position": "sinusoidal"}
    cases.append(_case(TOPOLOGIES, "cascade-transformer", replace(BASE, topology=Choice("cascade", tail))))
    for registry in (VECTOR_TRUNKS, TEMPORAL_TRUNKS):  # chosen in their input's parameters, on the streams they accept
        for trunk in registry:
            kind = _input_reading(registry, trunk)
            params = kind.resolve(embed(registry, trunk, trunk.resolve({})))
            cases.append(_case(registry, trunk.name, replace(BASE, input=Choice(kind.name, params))))
    streams = next(kind for kind in INPUTS if len(kind.streams(kind.resolve({}))) > 1)
    for fusion in FUSIONS:
        config = replace(BASE, input=Choice(streams.name, streams.resolve({})), fusion=Choice(fusion.name, fusion.resolve({})))
        cases.append(_case(FUSIONS, fusion.name, config))
    heads: set[type] = set()
    for loss in LOSSES:  # a loss brings its classifier head: one case per class of head
        head = type(loss.head(4, 3, loss.resolve({})))
        if head not in heads:
            heads.add(head)
            cases.append(_case(LOSSES, f"{loss.name}-{head.__name__}", replace(BASE, loss=Choice(loss.name, loss.resolve({})))))
    return cases


CASES = _cases()


def _trained_statistics(model: torch.nn.Module, shapes: dict[str, tuple[int, ...]]) -> None:
    """Batch-norm running statistics away from their initial 0 and 1, as after training."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model({name: torch.randn(8, *shape) * 2 + 1 for name, shape in shapes.items()})
    model.eval()


@pytest.mark.parametrize(("config", "shapes"), CASES)
def test_every_registered_component_exports_and_onnxruntime_matches_torch(
    config: PipelineConfig, shapes: dict[str, tuple[int, ...]], tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_model(config, shapes, 3)
    _trained_statistics(model, shapes)
    path = tmp_path / "model.onnx"
    export_onnx(model, shapes, path)
    rng = np.random.default_rng(0)
    inputs = {stream: rng.standard_normal((5, *shape)).astype(np.float32) for stream, shape in shapes.items()}
    assert verify_onnx(path, model, inputs, atol=ONNX_ATOL, rtol=ONNX_RTOL) < ONNX_ATOL
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == sorted(shapes) and [o.name for o in session.get_outputs()] == ["logits"]
    assert all(i.shape[0] == "batch" for i in session.get_inputs())
    assert run_onnx(session, {k: v[:1] for k, v in inputs.items()}).shape == (1, 3)  # the batch axis is dynamic


def test_every_registry_is_walked_or_builds_no_part_of_the_exported_network() -> None:
    declared = re.compile(r"^\w+(?::[^=\n]+)? = Registry\(\"(\w+)\"", re.MULTILINE)
    package = Path(merauto.__file__).parent
    slots = {slot for source in package.rglob("*.py") for slot in declared.findall(source.read_text())}
    known = {registry.slot for registry in (*WALKED, *NOT_EXPORTED)}
    assert slots == known, f"registries neither walked here nor declared in NOT_EXPORTED: {sorted(slots - known)}"
