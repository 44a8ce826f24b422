"""Attention blocks: squeeze-and-excitation and CBAM, each after a conv-bn-ReLU layer."""

from __future__ import annotations

from typing import Any

import optuna
import torch
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block, conv_bn_relu


def _hidden(channels: int, reduction: int) -> int:
    return max(1, channels // reduction)


class _ChannelGate(nn.Module):
    """Per-channel weights from pooled descriptors through a shared two-layer MLP (SE; CBAM adds max pooling)."""

    def __init__(self, channels: int, reduction: int, with_max: bool) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.with_max = with_max

    def forward(self, x: Tensor) -> Tensor:
        logits = self.mlp(x.mean(dim=(2, 3)))
        if self.with_max:
            logits = logits + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


class _SpatialGate(nn.Module):
    """CBAM's spatial attention: a 7x7 convolution of the channel-wise mean and max maps."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class _AttentionBlock(Block):
    """conv-bn-ReLU then attention; the MLP's reduction ratio is searched."""

    defaults = {"kernel": 3, "reduction": 4}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {**super().suggest(trial, prefix), "reduction": trial.suggest_categorical(prefix + "reduction", [2, 4, 8])}


@BLOCKS.register
class SqueezeExcitation(_AttentionBlock):
    name = "se"
    description = "conv-bn-ReLU then squeeze-and-excitation (Hu et al. 2018): channel weights from average pooling"

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        gate = _ChannelGate(out_channels, int(params["reduction"]), with_max=False)
        return nn.Sequential(conv_bn_relu(in_channels, out_channels, int(params["kernel"])), gate)


@BLOCKS.register
class Cbam(_AttentionBlock):
    name = "cbam"
    description = "conv-bn-ReLU then CBAM (Woo et al. 2018): channel attention (average + max pooling), then spatial attention"

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        gate = _ChannelGate(out_channels, int(params["reduction"]), with_max=True)
        return nn.Sequential(conv_bn_relu(in_channels, out_channels, int(params["kernel"])), gate, _SpatialGate())
