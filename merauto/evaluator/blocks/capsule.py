"""A small capsule layer with dynamic routing (Sabour et al. 2017), routed at every position."""

from __future__ import annotations

import math
from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block

PRIMARY_TYPES = 8  # primary capsule types at each position
# sqrt(|s|^2 + eps) is computed as sqrt(|s|^2 * 2^16 + eps * 2^16) / 2^8: scaling by powers of two is exact, so torch
# computes the same floats, but the ONNX exporter's optimiser drops the addition of any constant within 1e-8 of zero
# (onnxscript's "add 0" rewrite), which made model.onnx compute sqrt(|s|^2): short capsules (|s|^2 near eps, or 0) differed.
_EPS_SCALE = 2.0**16


def squash(s: Tensor, dim: int, eps: float = 1e-8) -> Tensor:
    """Sabour et al.'s non-linearity: the direction of ``s`` with a length |s|^2 / (1 + |s|^2), i.e.
    ``s |s|^2 / ((1 + |s|^2) sqrt(|s|^2 + eps))``, written so that ONNX exports keep ``eps``."""
    norm2 = s.square().sum(dim=dim, keepdim=True)
    length = torch.sqrt(norm2 * _EPS_SCALE + eps * _EPS_SCALE) / math.sqrt(_EPS_SCALE)
    return s * norm2 / (1 + norm2) / length


class _CapsuleLayer(nn.Module):
    """Primary capsules from a convolution, routed by agreement to ``out / dim`` capsules of ``dim``
    values at each position; the output map holds the routed capsules' poses."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dim: int, iterations: int) -> None:
        super().__init__()
        self.dim, self.iterations = dim, iterations
        self.primary = nn.Conv2d(in_channels, PRIMARY_TYPES * dim, kernel, padding=kernel // 2)
        self.transforms = nn.Parameter(torch.randn(PRIMARY_TYPES, out_channels // dim, dim, dim) / math.sqrt(dim))

    def forward(self, x: Tensor) -> Tensor:
        n, _, height, width = x.shape
        primary = squash(self.primary(x).view(n, PRIMARY_TYPES, self.dim, height, width), dim=2)
        n_out = self.transforms.shape[1]
        # routing starts from uniform coupling, so the first poses are the mean vote, contracted
        # without forming the votes; later iterations need them (N, in caps, out caps, dim, H, W)
        poses = squash(torch.einsum("iodc,nichw->nodhw", self.transforms, primary) / n_out, dim=2)
        if self.iterations > 1:
            votes = torch.einsum("iodc,nichw->niodhw", self.transforms, primary)
            logits = torch.zeros(votes.shape[:3] + votes.shape[4:], dtype=votes.dtype, device=votes.device)
            for _ in range(self.iterations - 1):
                logits = logits + (votes * poses.unsqueeze(1)).sum(dim=3)
                coupling = torch.softmax(logits, dim=2)  # each input capsule shares itself among the output capsules
                poses = squash((coupling.unsqueeze(3) * votes).sum(dim=1), dim=2)  # (N, out caps, dim, H, W)
        return poses.reshape(n, -1, height, width)


@BLOCKS.register
class Capsule(Block):
    name = "capsule"
    description = (
        f"capsule layer: {PRIMARY_TYPES} primary capsule types from a convolution, dynamic routing (1-3 iterations) "
        "at every position to out/d capsules of d = gcd(out, dim) values"
    )
    defaults = {"kernel": 3, "dim": 4, "iterations": 2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            **super().suggest(trial, prefix),
            "dim": trial.suggest_categorical(prefix + "dim", [2, 4]),
            "iterations": trial.suggest_int(prefix + "iterations", 1, 3),
        }

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        dim = math.gcd(out_channels, int(params["dim"]))
        return _CapsuleLayer(in_channels, out_channels, int(params["kernel"]), dim, int(params["iterations"]))
