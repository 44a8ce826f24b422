"""Graph convolution over landmark nodes: a trunk for landmark graph streams (Kipf and Welling 2017)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from merauto.data.landmarks import graph_points
from merauto.evaluator.blocks.graph import graph_convolve, normalised, pool_nodes

WIDTH = 32  # node features after each GCN layer


def node_features(x: Tensor, points: int) -> Tensor:
    """(N, 2 P + P (P - 1) / 2) landmark graph vectors -> (N, P, 2 + P): each node's onset->apex
    displacement and the length changes of its edges to every node (0 to itself)."""
    n = x.shape[0]
    rows, cols = torch.triu_indices(points, points, 1, device=x.device)
    edges = torch.arange(rows.numel(), device=x.device)
    index = torch.full((points, points), rows.numel(), dtype=torch.long, device=x.device)  # the diagonal reads a 0
    index[rows, cols] = edges
    index[cols, rows] = edges
    stretch = torch.cat([x[:, 2 * points :], x.new_zeros(n, 1)], dim=1)
    return torch.cat([x[:, : 2 * points].reshape(n, points, 2), stretch[:, index]], dim=2)


class LandmarkGCN(nn.Module):
    """Nodes are the landmarks (:func:`node_features`); ``layers`` GCN layers relu(A X W) with A
    learned from the normalised adjacency (with self-loops) of the graph's edges, every pair of
    landmarks; the nodes' mean and maximum: (N, 2 WIDTH)."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.points = graph_points(dim)
        self.adjacency = nn.Parameter(normalised(torch.ones(self.points, self.points)))
        self.weights = nn.ModuleList(nn.Linear(2 + self.points if i == 0 else WIDTH, WIDTH) for i in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        return pool_nodes(graph_convolve(node_features(x, self.points), self.adjacency, self.weights))
