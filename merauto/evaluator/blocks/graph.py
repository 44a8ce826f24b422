"""Graph convolution over RoI nodes: the cells of a g x g grid of the map (Kipf and Welling 2017)."""

from __future__ import annotations

from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block, conv_bn_relu


def grid_adjacency(grid: int) -> Tensor:
    """D^-1/2 (A + I) D^-1/2 of the 4-neighbourhood graph of a ``grid`` x ``grid`` lattice."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    adjacency = ((rows[:, None] - rows[None, :]).abs() + (cols[:, None] - cols[None, :]).abs() <= 1).float()
    degree = adjacency.sum(dim=1).rsqrt()
    return degree[:, None] * adjacency * degree[None, :]


class _GraphConv(nn.Module):
    """Local 1x1 features plus, at every position, the GCN output of the RoI cell it lies in.

    Nodes are the map's features average-pooled over a ``grid`` x ``grid`` partition; each layer
    is relu(A X W) with A a learned adjacency initialised to the normalised grid neighbourhood.
    """

    def __init__(self, in_channels: int, out_channels: int, grid: int, layers: int) -> None:
        super().__init__()
        self.grid = grid
        self.local = conv_bn_relu(in_channels, out_channels, 1)
        self.adjacency = nn.Parameter(grid_adjacency(grid))
        self.weights = nn.ModuleList(nn.Linear(out_channels, out_channels) for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        local = self.local(x)
        height, width = local.shape[2:]
        nodes = F.adaptive_avg_pool2d(local, self.grid).flatten(2).transpose(1, 2)  # (N, g*g, out)
        for weight in self.weights:
            nodes = torch.relu(self.adjacency @ weight(nodes))
        cells = nodes.transpose(1, 2).reshape(local.shape[0], local.shape[1], self.grid, self.grid)
        rows = torch.arange(height, device=x.device) * self.grid // height
        cols = torch.arange(width, device=x.device) * self.grid // width
        return local + cells[:, :, rows[:, None], cols[None, :]]


@BLOCKS.register
class GraphConv(Block):
    name = "graph_conv"
    description = (
        "graph convolution: 1x1 conv-bn-ReLU features, nodes = cells of a g x g RoI grid (g in 2-4), "
        "1-2 GCN layers with a learned adjacency initialised to the grid's normalised neighbourhood, "
        "each node's output added back over its cell"
    )
    defaults = {"grid": 3, "layers": 1}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"grid": trial.suggest_int(prefix + "grid", 2, 4), "layers": trial.suggest_int(prefix + "layers", 1, 2)}

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        return _GraphConv(in_channels, out_channels, int(params["grid"]), int(params["layers"]))
