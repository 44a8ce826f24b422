"""Topologies (survey §5.2): how blocks are arranged into a trunk for one input stream.

A trunk maps (N, C, H, W) to a flat feature vector (N, F).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.search_space.registry import Component, Registry

BlockFactory = Callable[[int, int], nn.Module]


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
    description = "shallow parallel branches of different widths on the same input, concatenated (STSTNet-like)"
    defaults = {"n": 3, "width_0": 3, "width_1": 5, "width_2": 8}
    max_branches = 4

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        n = trial.suggest_int(prefix + "n", 1, self.max_branches)
        return {"n": n, **{f"width_{i}": trial.suggest_int(prefix + f"width_{i}", 2, 16, log=True) for i in range(n)}}

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        n = int(params.get("n", self.defaults["n"]))
        widths = {f"width_{i}": params.get(f"width_{i}", self.defaults.get(f"width_{i}", 8)) for i in range(n)}
        return {"n": n, **widths}

    def build(self, in_channels: int, make_block: BlockFactory, params: dict[str, Any]) -> nn.Module:
        branches = [
            nn.Sequential(make_block(in_channels, int(params[f"width_{i}"])), nn.MaxPool2d(3, stride=3, padding=1))
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
