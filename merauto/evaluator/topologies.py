"""Topologies (survey §5.2): how blocks are arranged into a trunk for one input stream.

A trunk maps (N, C, H, W) to a flat feature vector (N, F).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Protocol

import optuna
import torch
from torch import Tensor, nn

from merauto.evaluator.blocks.graph import graph_convolve, grid_adjacency, grid_nodes, pool_nodes
from merauto.evaluator.blocks.transformer import TransformerBlock
from merauto.pipeline.registry import Component, Registry


class BlockFactory(Protocol):
    """Builds the chosen block from ``in_channels`` to ``out_channels``."""

    def __call__(self, in_channels: int, out_channels: int, kernel: int | None = None) -> nn.Module:
        """``kernel`` overrides the block's own kernel size (blocks without one ignore it)."""
        ...


class Topology(Component):
    """A registered arrangement of blocks."""

    @abstractmethod
    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        """A trunk for one stream with ``in_channels`` channels."""


TOPOLOGIES: Registry[Topology] = Registry("topology")


@TOPOLOGIES.register
class Stacked(Topology):
    name = "stacked"
    description = (
        "single stream: `depth` stages of block + 2x2 max-pool, widths doubling, then average pooling to a "
        "`pool` x `pool` grid (1: global; more keeps where on the face a feature is) flattened"
    )
    defaults = {"depth": 2, "width": 16, "pool": 1}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "depth": trial.suggest_int(prefix + "depth", 1, 3),
            "width": trial.suggest_int(prefix + "width", 4, 32, log=True),
            "pool": trial.suggest_categorical(prefix + "pool", [1, 2, 4]),
        }

    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        layers, _ = stages(in_channels, make_block, int(params["depth"]), int(params["width"]))
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(int(params["pool"])), nn.Flatten())


def stages(in_channels: int, make_block: BlockFactory, depth: int, width: int) -> tuple[list[nn.Module], int]:
    """``depth`` stages of block + 2x2 max-pool, widths ``width`` doubling, and the channels they end with."""
    layers: list[nn.Module] = []
    channels = in_channels
    for stage in range(depth):
        layers += [make_block(channels, width * 2**stage), nn.MaxPool2d(2)]
        channels = width * 2**stage
    return layers, channels


class _ParallelBranches(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.pool(torch.cat([b(x) for b in self.branches], dim=1)), 1)


@TOPOLOGIES.register
class Branches(Topology):
    name = "branches"
    description = (
        "shallow parallel branches of different widths and kernel sizes (3, 5 or 7, for blocks with a kernel) "
        "on the same input, concatenated (STSTNet-like)"
    )
    defaults = {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8}
    max_branches = 4
    kernels = (3, 5, 7)

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n = trial.suggest_int(prefix + "n", 1, self.max_branches)
        widths = {f"width_{i}": trial.suggest_int(prefix + f"width_{i}", 2, 16, log=True) for i in range(n)}
        kernels = {f"kernel_{i}": trial.suggest_categorical(prefix + f"kernel_{i}", list(self.kernels)) for i in range(n)}
        return {"n": n, **widths, **kernels}

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Widths default per branch; a branch without ``kernel_i`` (configs written before it) uses the block's kernel."""
        n = int(params.get("n", self.defaults["n"]))
        widths = {f"width_{i}": params.get(f"width_{i}", self.defaults.get(f"width_{i}", 8)) for i in range(n)}
        kernels = {f"kernel_{i}": params[f"kernel_{i}"] for i in range(n) if f"kernel_{i}" in params}
        return {"n": n, **widths, **kernels}

    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        def kernel(i: int) -> int | None:
            return int(params[f"kernel_{i}"]) if f"kernel_{i}" in params else None

        branches = [
            nn.Sequential(make_block(in_channels, int(params[f"width_{i}"]), kernel(i)), nn.MaxPool2d(3, stride=3, padding=1))
            for i in range(int(params["n"]))
        ]
        return _ParallelBranches(branches)


class _GridGCN(nn.Module):
    """GCN over the cells of a g x g grid of the map (adjacency learned from the grid's), mean+max pooled."""

    def __init__(self, channels: int, grid: int, layers: int) -> None:
        super().__init__()
        self.grid = grid
        self.adjacency = nn.Parameter(grid_adjacency(grid))
        self.weights = nn.ModuleList(nn.Linear(channels, channels) for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        return pool_nodes(graph_convolve(grid_nodes(x, self.grid), self.adjacency, self.weights))


class _TokenEncoder(nn.Module):
    """Transformer encoder over the map's positions as tokens, mean+max pooled."""

    def __init__(self, channels: int, layers: int, heads: int, position: str) -> None:
        super().__init__()
        self.encoder = TransformerBlock(channels, channels, 1, layers, heads, position)

    def forward(self, x: Tensor) -> Tensor:
        return pool_nodes(self.encoder(x).flatten(2).transpose(1, 2))


@TOPOLOGIES.register
class Cascade(Topology):
    name = "cascade"
    description = (
        "cascaded: `depth` stages of block + 2x2 max-pool (widths doubling), then a GCN over the g x g cells of the map "
        "(`gcn`: g 2-4, 1-2 layers, adjacency learned from the grid's) or a transformer encoder over its positions "
        "(`transformer`: 1-2 layers, heads 1/2/4, learned or sinusoidal positions); mean+max pooled"
    )
    defaults = {"depth": 2, "width": 16, "tail": "gcn"}
    tails: dict[str, dict[str, Any]] = {
        "gcn": {"grid": 3, "gcn_layers": 1},
        "transformer": {"encoder_layers": 1, "heads": 2, "position": "learned"},
    }

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        params = {
            "depth": trial.suggest_int(prefix + "depth", 1, 3),
            "width": trial.suggest_int(prefix + "width", 4, 32, log=True),
            "tail": trial.suggest_categorical(prefix + "tail", list(self.tails)),
        }
        if params["tail"] == "gcn":
            return {
                **params,
                "grid": trial.suggest_int(prefix + "grid", 2, 4),
                "gcn_layers": trial.suggest_int(prefix + "gcn_layers", 1, 2),
            }
        return {
            **params,
            "encoder_layers": trial.suggest_int(prefix + "encoder_layers", 1, 2),
            "heads": trial.suggest_categorical(prefix + "heads", [1, 2, 4]),
            "position": trial.suggest_categorical(prefix + "position", ["learned", "sinusoidal"]),
        }

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """The defaults, with those of the chosen tail only."""
        tail = str(params.get("tail", self.defaults["tail"]))
        return {**self.defaults, **self.tails[tail], **params}

    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        layers, channels = stages(in_channels, make_block, int(params["depth"]), int(params["width"]))
        tail: nn.Module
        if params["tail"] == "gcn":
            tail = _GridGCN(channels, int(params["grid"]), int(params["gcn_layers"]))
        else:
            heads = math.gcd(channels, int(params["heads"]))
            tail = _TokenEncoder(channels, int(params["encoder_layers"]), heads, str(params["position"]))
        return nn.Sequential(*layers, tail)


def trunk_features(trunk: nn.Module, shape: tuple[int, ...]) -> int:
    """The width F of the features ``trunk`` gives for one sample of ``shape`` (a dry run in eval mode)."""
    trunk.eval()
    with torch.no_grad():
        features = trunk(torch.zeros(1, *shape)).shape[1]
    trunk.train()
    return int(features)
