"""Recurrent convolution (RCN; Liang and Hu 2015, for micro-expressions Xia et al. 2020)."""

from __future__ import annotations

from typing import Any

import optuna
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block


class _RecurrentConv(nn.Module):
    """x_0 = relu(bn_0(ff(x))), x_t = relu(bn_t(ff(x) + rec(x_{t-1}))) for t = 1..steps; ``rec`` is shared over t."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, steps: int) -> None:
        super().__init__()
        self.feed_forward = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        self.recurrent = nn.Conv2d(out_channels, out_channels, kernel, padding=kernel // 2, bias=False)
        self.norms = nn.ModuleList(nn.BatchNorm2d(out_channels) for _ in range(steps + 1))
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        drive = self.feed_forward(x)
        state = self.act(self.norms[0](drive))
        for norm in self.norms[1:]:
            state = self.act(norm(drive + self.recurrent(state)))
        return state


@BLOCKS.register
class RecurrentConv(Block):
    name = "recurrent_conv"
    description = "recurrent convolutional layer: a feed-forward convolution then T in {1, 2, 3} weight-shared recurrent iterations"
    defaults = {"kernel": 3, "steps": 2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {**super().suggest(trial, prefix), "steps": trial.suggest_int(prefix + "steps", 1, 3)}

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        return _RecurrentConv(in_channels, out_channels, int(params["kernel"]), int(params["steps"]))
