"""Trunks of (D,) feature-vector streams (LBP-TOP histograms, landmark graphs), one registered class each.

A vector trunk is chosen inside its input's parameters (``vector_trunk``, its own
hyper-parameters as ``<trunk>_<name>``: ``gcn_layers``), sampled for every input with a vector
stream among the trunks that accept that stream's layout. Adding a trunk is one class here.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.data.preprocessing.landmarks import graph_points
from merauto.data.streams import StreamLayout
from merauto.evaluator.blocks.graph import graph_convolve, normalised, pool_nodes
from merauto.pipeline.registry import Component, Registry

MLP_WIDTH = 64  # hidden units of the mlp trunk
GCN_WIDTH = 32  # node features after each GCN layer


class VectorTrunk(Component):
    """A registered trunk of a vector stream: ``build`` maps (N, dim) features to (N, F)."""

    def accepts(self, layout: StreamLayout) -> bool:
        """Whether this trunk can read a stream laid out as ``layout`` (a vector stream)."""
        return layout.vector

    @abstractmethod
    def build(self, dim: int, layout: StreamLayout, params: dict[str, Any]) -> nn.Module:
        """The trunk of a ``dim``-feature stream."""


VECTOR_TRUNKS: Registry[VectorTrunk] = Registry("vector_trunk", default="mlp")


@VECTOR_TRUNKS.register
class Mlp(VectorTrunk):
    name = "mlp"
    description = f"one hidden layer of {MLP_WIDTH} ReLU units"

    def build(self, dim: int, layout: StreamLayout, params: dict[str, Any]) -> nn.Module:
        return nn.Sequential(nn.Linear(dim, MLP_WIDTH), nn.ReLU(inplace=True))


@VECTOR_TRUNKS.register
class Linear(VectorTrunk):
    name = "linear"
    description = "no trunk: the features go straight to the classifier, linear in them"

    def build(self, dim: int, layout: StreamLayout, params: dict[str, Any]) -> nn.Module:
        return nn.Identity()


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
    landmarks; the nodes' mean and maximum: (N, 2 GCN_WIDTH) (Kipf and Welling 2017)."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.points = graph_points(dim)
        self.adjacency = nn.Parameter(normalised(torch.ones(self.points, self.points)))
        self.weights = nn.ModuleList(nn.Linear(2 + self.points if i == 0 else GCN_WIDTH, GCN_WIDTH) for i in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        return pool_nodes(graph_convolve(node_features(x, self.points), self.adjacency, self.weights))


@VECTOR_TRUNKS.register
class Gcn(VectorTrunk):
    name = "gcn"
    description = "graph convolutions over the landmarks, adjacency learned from the landmark graph (landmark graph streams)"
    defaults = {"layers": 1}

    def accepts(self, layout: StreamLayout) -> bool:
        return layout.landmark_graph

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"layers": trial.suggest_int(prefix + "layers", 1, 2)}

    def build(self, dim: int, layout: StreamLayout, params: dict[str, Any]) -> nn.Module:
        return LandmarkGCN(dim, int(params["layers"]))
