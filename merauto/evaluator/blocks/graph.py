"""Graph convolution over RoI nodes: the cells of a g x g grid of the map (Kipf and Welling 2017)."""

from __future__ import annotations

from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block, conv_bn_relu


def normalised(adjacency: Tensor) -> Tensor:
    """D^-1/2 (A + I) D^-1/2 of a symmetric 0/1 adjacency ``A`` (self-loops added if missing)."""
    adjacency = torch.maximum(adjacency.float(), torch.eye(len(adjacency)))
    degree = adjacency.sum(dim=1).rsqrt()
    return degree[:, None] * adjacency * degree[None, :]


def grid_adjacency(grid: int) -> Tensor:
    """The normalised adjacency of the 4-neighbourhood graph of a ``grid`` x ``grid`` lattice."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    return normalised((rows[:, None] - rows[None, :]).abs() + (cols[:, None] - cols[None, :]).abs() <= 1)


def grid_nodes(x: Tensor, grid: int) -> Tensor:
    """(N, C, H, W) -> (N, grid * grid, C): the map's features averaged over each cell of a ``grid`` x ``grid`` partition."""
    return F.adaptive_avg_pool2d(x, grid).flatten(2).transpose(1, 2)


def graph_convolve(nodes: Tensor, adjacency: Tensor, weights: nn.ModuleList) -> Tensor:
    """(N, nodes, F) through one GCN layer relu(A X W) per linear map of ``weights``."""
    for weight in weights:
        nodes = torch.relu(adjacency @ weight(nodes))
    return nodes


def pool_nodes(nodes: Tensor) -> Tensor:
    """(N, nodes, F) -> (N, 2F): the mean and the maximum over nodes."""
    return torch.cat([nodes.mean(dim=1), nodes.amax(dim=1)], dim=1)


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
        nodes = graph_convolve(grid_nodes(local, self.grid), self.adjacency, self.weights)  # (N, g*g, out)
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
