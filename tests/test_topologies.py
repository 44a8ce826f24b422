"""Topologies and their options: per-branch kernels, cascades, a hand-crafted stream beside a
learned one, graph convolution over landmarks; each builds, has gradients, keeps old configs' networks, and trains alike under the
engine's batched (vmap) and sequential (loop) modes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import assert_vmap_matches_loop, random_eval_data

from merauto.data.inputs import INPUTS
from merauto.data.preprocessing.landmarks import graph_features, graph_points
from merauto.evaluator.model import build_model, count_parameters
from merauto.evaluator.topologies import TOPOLOGIES
from merauto.evaluator.vector_trunks import node_features
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.search_space.describe import input_params
from merauto.search_space.presets import PRESETS

STSTNET = PRESETS["ststnet"]
FLOW_SHAPE = {"flow": (3, 28, 28)}


def _with(topology: Choice, block: Choice = STSTNET.block) -> PipelineConfig:
    return replace(STSTNET, topology=topology, block=block, training=replace(STSTNET.training, batch_size=8))


def _forward_backward(config: PipelineConfig, shapes: dict[str, tuple[int, ...]]) -> None:
    model = build_model(config, shapes, 3)
    inputs = {name: torch.randn(4, *shape, requires_grad=True) for name, shape in shapes.items()}
    logits = model(inputs)
    assert logits.shape == (4, 3)
    logits.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in inputs.values())


BRANCH_KERNELS = Choice("branches", {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8, "kernel_0": 3, "kernel_1": 5, "kernel_2": 7})


def test_branches_without_kernels_keep_the_blocks_kernel() -> None:
    old = _with(Choice("branches", {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8}))
    assert count_parameters(build_model(old, FLOW_SHAPE, 3)) == 1683  # STSTNet, as before kernels were searched
    same = _with(Choice("branches", {**old.topology.params, "kernel_0": 3, "kernel_1": 3, "kernel_2": 3}))
    assert count_parameters(build_model(same, FLOW_SHAPE, 3)) == 1683


def test_branch_kernels_set_each_branchs_receptive_field() -> None:
    model = build_model(_with(BRANCH_KERNELS), FLOW_SHAPE, 3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (5, 5), (7, 7)]
    assert [c.padding for c in convs] == [(1, 1), (2, 2), (3, 3)]
    _forward_backward(_with(BRANCH_KERNELS), FLOW_SHAPE)


def test_branch_kernels_train_alike_in_both_modes() -> None:
    assert_vmap_matches_loop(_with(BRANCH_KERNELS, Choice("residual", {"kernel": 3})))


CASCADES = [
    Choice("cascade", {"depth": 2, "width": 4, "tail": "gcn", "grid": 3, "gcn_layers": 2}),
    Choice("cascade", {"depth": 1, "width": 6, "tail": "transformer", "encoder_layers": 2, "heads": 4, "position": "sinusoidal"}),
    Choice("cascade", {"depth": 3, "width": 4, "tail": "transformer"}),
]


@pytest.mark.parametrize("topology", CASCADES, ids=lambda c: str(c.params))
def test_cascades_build_and_have_gradients(topology: Choice) -> None:
    for block in (STSTNET.block, Choice("graph_conv", {"grid": 2, "layers": 1})):
        _forward_backward(_with(topology, block), FLOW_SHAPE)
    _forward_backward(_with(topology), {"flow": (3, 12, 12)})


def test_cascade_tails_pool_the_mean_and_max_of_the_last_stage() -> None:
    for topology in CASCADES:
        model = build_model(_with(topology), FLOW_SHAPE, 3)
        last_width = topology.params["width"] * 2 ** (topology.params["depth"] - 1)
        assert model.feature_dim == 2 * last_width


def test_cascade_resolves_only_its_tails_defaults() -> None:
    cascade = TOPOLOGIES.get("cascade")
    assert cascade.resolve({"tail": "gcn"}) == {"depth": 2, "width": 16, "tail": "gcn", "grid": 3, "gcn_layers": 1}
    assert set(cascade.resolve({"tail": "transformer"})) == {"depth", "width", "tail", "encoder_layers", "heads", "position"}


@pytest.mark.parametrize("topology", CASCADES[:2], ids=lambda c: str(c.params["tail"]))
def test_cascades_train_alike_in_both_modes(topology: Choice) -> None:
    assert_vmap_matches_loop(_with(topology))


UPSTREAM = {"face": ("haar", {}), "magnification": ("evm", {"alpha": 8}), "roi": ("grid", {"n": 2})}


def test_flow_lbp_top_reads_the_single_stream_inputs_cached_arrays() -> None:
    params = {"size": 28, "flow_method": "farneback", "flow_channels": "u+v+strain", "blocks": 3, "vector_trunk": "linear"}
    both = INPUTS.get("flow_lbp_top")
    streams = both.streams(both.resolve(params), UPSTREAM)
    flow, lbp = INPUTS.get("flow_strain"), INPUTS.get("lbp_top")
    assert streams == {**flow.streams(flow.resolve(params), UPSTREAM), **lbp.streams(lbp.resolve({"blocks": 3}), UPSTREAM)}
    assert both.uses(both.resolve(params)) == {"face", "magnification", "roi"}


def test_flow_lbp_top_fuses_a_cnn_and_a_vector_trunk_alike_in_both_modes() -> None:
    data = random_eval_data(n_subjects=3)
    rng = np.random.default_rng(1)
    lbp = rng.random((len(data.labels), 20)).astype(np.float32)
    data = replace(data, inputs={**data.inputs, "lbp_top": lbp})
    for fusion in (Choice("concat"), Choice("attention", {"width": 32})):
        config = replace(_with(STSTNET.topology), input=Choice("flow_lbp_top", {"vector_trunk": "mlp"}), fusion=fusion)
        _forward_backward(config, {"flow": (3, 12, 12), "lbp_top": (20,)})
        assert_vmap_matches_loop(config, data)


NAMES = ("brow_l", "eye_l", "eye_r", "mouth_l", "mouth_r")
POINTS = len(NAMES)
GRAPH_DIM = 2 * POINTS + POINTS * (POINTS - 1) // 2


def test_landmark_nodes_hold_their_displacement_and_their_edges_length_changes() -> None:
    rng = np.random.default_rng(0)
    onset = {name: rng.uniform(0, 100, 2) for name in NAMES}
    apex = {name: point + rng.normal(0, 2, 2) for name, point in onset.items()}
    vector = graph_features(onset, apex)
    assert graph_points(len(vector)) == POINTS
    nodes = node_features(torch.from_numpy(vector)[None], POINTS)[0].numpy()
    unit = np.hypot(*(onset["eye_r"] - onset["eye_l"]))
    for k, a in enumerate(NAMES):
        np.testing.assert_allclose(nodes[k, :2], (apex[a] - onset[a]) / unit, rtol=1e-5)
        for m, b in enumerate(NAMES):
            change = np.hypot(*(apex[a] - apex[b])) - np.hypot(*(onset[a] - onset[b]))
            np.testing.assert_allclose(nodes[k, 2 + m], change / unit, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="not a landmark graph"):
        graph_points(GRAPH_DIM + 1)


def test_the_space_offers_each_input_the_trunks_its_streams_take_and_gcn_exactly_with_a_landmark_graph() -> None:
    for kind in INPUTS:
        layouts = kind.layouts(kind.resolve({}))
        offered = {param.name: param.choices for param in input_params(kind)}
        assert ("vector_trunk" in offered) == any(layout.vector for layout in layouts), kind.name
        assert ("temporal" in offered) == any(layout.evenly_spaced for layout in layouts), kind.name
        assert ("gcn" in offered.get("vector_trunk", ())) == any(layout.landmark_graph for layout in layouts), kind.name
    with pytest.raises(ValueError, match="landmark graph"):
        lbp_top_gcn = replace(PRESETS["lbp_top_linear"], input=Choice("lbp_top", {"blocks": 3, "vector_trunk": "gcn"}))
        build_model(lbp_top_gcn, {"lbp_top": (12,)}, 3)


def test_landmark_gcn_builds_and_old_landmark_configs_keep_their_mlp() -> None:
    shapes = {"landmarks": (GRAPH_DIM,)}
    for layers in (1, 2):
        config = replace(STSTNET, input=Choice("landmark_graph", {"vector_trunk": "gcn", "gcn_layers": layers}))
        _forward_backward(config, shapes)
        assert build_model(config, shapes, 3).feature_dim == 64
    old = replace(STSTNET, input=Choice("landmark_graph", {}))
    assert count_parameters(build_model(old, shapes, 3)) == GRAPH_DIM * 64 + 64 + 64 * 3 + 3


def test_landmark_gcn_trains_alike_in_both_modes() -> None:
    data = random_eval_data(n_subjects=3)
    graph = np.random.default_rng(2).normal(0, 0.1, (len(data.labels), GRAPH_DIM)).astype(np.float32)
    graph[:, 0] += data.labels * 0.3
    data = replace(data, inputs={**data.inputs, "landmarks": graph})
    config = replace(_with(STSTNET.topology), input=Choice("flow_landmarks", {"vector_trunk": "gcn", "gcn_layers": 2}))
    assert_vmap_matches_loop(config, data)
