"""Topologies (survey §5.2): how blocks are arranged into a trunk for one input stream.

A trunk maps (N, C, H, W) to a flat feature vector (N, F).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Protocol

import optuna
import torch
from torch import Tensor, nn

from merauto.search_space.registry import Component, Registry


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
    description = "single stream: `depth` stages of block + 2x2 max-pool, widths doubling, global average pool"
    defaults = {"depth": 2, "width": 16}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "depth": trial.suggest_int(prefix + "depth", 1, 3),
            "width": trial.suggest_int(prefix + "width", 4, 32, log=True),
        }

    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(int(params["depth"])):
            width = int(params["width"]) * 2**stage
            layers += [make_block(channels, width), nn.MaxPool2d(2)]
            channels = width
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


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


def trunk_features(trunk: nn.Module, shape: tuple[int, ...]) -> int:
    """The width F of the features ``trunk`` gives for one sample of ``shape`` (a dry run in eval mode)."""
    trunk.eval()
    with torch.no_grad():
        features = trunk(torch.zeros(1, *shape)).shape[1]
    trunk.train()
    return int(features)
