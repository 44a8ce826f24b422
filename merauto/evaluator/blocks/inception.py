"""Inception module (Szegedy et al. 2015): parallel multi-scale branches with 1x1 reductions."""

from __future__ import annotations

from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block, conv_bn_relu


def split_width(total: int, parts: int) -> list[int]:
    """``total`` channels shared as evenly as possible among ``parts`` branches, the first ones wider."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Inception(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


@BLOCKS.register
class Inception(Block):
    name = "inception"
    description = (
        "inception module: 1x1, 1x1->3x3, 1x1->5x5 (or two 3x3) and 3x3 max-pool->1x1 branches concatenated to `out` channels; "
        "each reduction has ceil(branch width / reduction) channels"
    )
    defaults = {"large": "5x5", "reduction": 2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "large": trial.suggest_categorical(prefix + "large", ["5x5", "3x3x2"]),
            "reduction": trial.suggest_categorical(prefix + "reduction", [1, 2]),
        }

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        reduction = int(params["reduction"])
        factorised = params["large"] == "3x3x2"

        def branch(index: int, width: int) -> nn.Module:
            reduced = -(-width // reduction)
            if index == 0:
                return conv_bn_relu(in_channels, width, 1)
            if index == 3:
                return nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn_relu(in_channels, width, 1))
            if index == 2 and factorised:
                return nn.Sequential(conv_bn_relu(in_channels, reduced, 1), conv_bn_relu(reduced, width, 3), conv_bn_relu(width, width, 3))
            return nn.Sequential(conv_bn_relu(in_channels, reduced, 1), conv_bn_relu(reduced, width, 3 if index == 1 else 5))

        # branches 1x1, 3x3, large, pool share `out`; a zero-width branch is left out
        return _Inception([branch(i, width) for i, width in enumerate(split_width(out_channels, 4)) if width > 0])
