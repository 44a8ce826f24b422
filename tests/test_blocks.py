"""Every registered block: any sampled hyper-parameters map (N, in, H, W) to (N, out, H, W) with
gradients, and the engine's batched (vmap) and sequential (loop) training agree on it."""

from __future__ import annotations

from dataclasses import replace

import optuna
import pytest
import torch
from conftest import assert_vmap_matches_loop

from merauto.evaluator.blocks import BLOCKS, Block
from merauto.evaluator.blocks.capsule import PRIMARY_TYPES, squash
from merauto.evaluator.blocks.graph import grid_adjacency
from merauto.evaluator.blocks.inception import split_width
from merauto.pipeline.config import Choice
from merauto.search_space.presets import PRESETS

BLOCK_NAMES = BLOCKS.names()
SHAPES = [(3, 5, 28), (5, 2, 7), (2, 3, 3), (1, 16, 14), (9, 7, 5), (4, 4, 1)]  # (in, out, map side)


def _sampled_params(block: Block, n: int) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [block.resolve(block.suggest(study.ask(), "block.")) for _ in range(n)]


@pytest.mark.parametrize("name", BLOCK_NAMES)
def test_block_keeps_the_map_size_for_any_sampled_parameters_and_widths(name: str) -> None:
    block = BLOCKS.get(name)
    for params, (c_in, c_out, size) in zip(_sampled_params(block, len(SHAPES)), SHAPES, strict=True):
        module = block.build(c_in, c_out, params)
        x = torch.randn(3, c_in, size, size, requires_grad=True)
        y = module(x)
        assert y.shape == (3, c_out, size, size), params
        y.square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", BLOCK_NAMES)
def test_vmap_and_loop_training_agree_on_every_block(name: str) -> None:
    block = BLOCKS.get(name)
    config = replace(
        PRESETS["ststnet"],
        topology=Choice("stacked", {"depth": 2, "width": 4}),
        block=Choice(name, block.resolve({})),
        training=replace(PRESETS["ststnet"].training, batch_size=8),
    )
    assert_vmap_matches_loop(config)


def test_inception_shares_out_channels_among_its_branches() -> None:
    assert split_width(10, 4) == [3, 3, 2, 2] and split_width(2, 4) == [1, 1, 0, 0]


def test_graph_adjacency_is_the_normalised_grid_neighbourhood() -> None:
    adjacency = grid_adjacency(3)
    assert torch.allclose(adjacency, adjacency.T)
    corner_degree, centre_degree = 3, 5  # itself and its 2 (corner) or 4 (centre) neighbours
    assert adjacency[0, 0] == pytest.approx(1 / corner_degree) and adjacency[4, 4] == pytest.approx(1 / centre_degree)
    assert adjacency[0, 8] == 0


def test_squash_keeps_the_direction_and_maps_lengths_below_one() -> None:
    s = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    v = squash(s, dim=1)
    assert torch.allclose(v[0], s[0] / 5 * 25 / 26) and torch.equal(v[1], torch.zeros(2))


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_capsule_routing_matches_sabours_algorithm_written_out(iterations: int) -> None:
    """The layer skips forming the votes for the first (uniform-coupling) iteration; the
    result must be routing-by-agreement exactly as published: uniform coupling first, then
    softmax of accumulated agreements."""
    torch.manual_seed(0)
    layer = BLOCKS.get("capsule").build(4, 6, {"kernel": 3, "dim": 2, "iterations": iterations})
    x = torch.randn(3, 4, 5, 5)
    n = x.shape[0]
    primary = squash(layer.primary(x).view(n, PRIMARY_TYPES, 2, 5, 5), dim=2)
    votes = torch.einsum("iodc,nichw->niodhw", layer.transforms, primary)
    logits = torch.zeros(votes.shape[:3] + votes.shape[4:])
    for _ in range(iterations):
        poses = squash((torch.softmax(logits, dim=2).unsqueeze(3) * votes).sum(dim=1), dim=2)
        logits = logits + (votes * poses.unsqueeze(1)).sum(dim=3)
    torch.testing.assert_close(layer(x), poses.reshape(n, -1, 5, 5), atol=1e-6, rtol=1e-5)
