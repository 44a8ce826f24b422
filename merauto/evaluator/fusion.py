"""Late fusion (survey §5.2): how the per-stream trunk features become the one vector the head reads.

``concat`` (the identity: what every multi-stream model did before fusion was searched)
concatenates them; ``sum`` projects each stream to a common width and adds the projections;
``attention`` weights the same projections by a softmax over streams of scores computed from
each projection. Fusion is searched only for inputs with more than one stream.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.pipeline.registry import Component, Registry


class Fusion(Component):
    """A registered way of fusing stream features."""

    @abstractmethod
    def build(self, dims: list[int], params: dict[str, Any]) -> nn.Module:
        """A module mapping the list of per-stream features (N, d_s), in ``dims`` order, to (N, F)."""


FUSIONS: Registry[Fusion] = Registry("fusion")


class _Concat(nn.Module):
    def forward(self, features: list[Tensor]) -> Tensor:
        return torch.cat(features, dim=1)


class _Projected(nn.Module):
    """One linear projection per stream to ``width``; summed, or attention-weighted."""

    def __init__(self, dims: list[int], width: int, attention: bool) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(d, width) for d in dims)
        self.score = nn.Linear(width, 1) if attention else None

    def forward(self, features: list[Tensor]) -> Tensor:
        projected = torch.stack([p(f) for p, f in zip(self.projections, features, strict=True)], dim=1)  # (N, S, width)
        if self.score is None:
            return projected.sum(1)
        weights = torch.softmax(self.score(torch.tanh(projected)), dim=1)  # (N, S, 1)
        return (weights * projected).sum(1)


@FUSIONS.register
class Concat(Fusion):
    name = "concat"
    description = "concatenate the streams' features (the identity)"

    def build(self, dims: list[int], params: dict[str, Any]) -> nn.Module:
        return _Concat()


class _ProjectedFusion(Fusion):
    defaults = {"width": 64}
    attention = False

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"width": trial.suggest_categorical(prefix + "width", [32, 64, 128])}

    def build(self, dims: list[int], params: dict[str, Any]) -> nn.Module:
        return _Projected(dims, int(params["width"]), self.attention)


@FUSIONS.register
class Sum(_ProjectedFusion):
    name = "sum"
    description = "project each stream's features to `width`, then sum"


@FUSIONS.register
class Attention(_ProjectedFusion):
    name = "attention"
    description = "project each stream's features to `width`, weight them by a softmax over streams of learnt scores"
    attention = True
