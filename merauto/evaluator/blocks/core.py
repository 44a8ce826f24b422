"""The block base class and registry, and the plain blocks: convolution-bn-ReLU and residual."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import optuna
from torch import Tensor, nn

from merauto.pipeline.registry import Component, Registry


class Block(Component):
    """A registered block type."""

    defaults = {"kernel": 3}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"kernel": trial.suggest_categorical(prefix + "kernel", [3, 5])}

    @abstractmethod
    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        """A module of this block type."""


BLOCKS: Registry[Block] = Registry("block")


def conv_bn(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    """A 'same'-padded convolution and its batch normalisation."""
    return [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), nn.BatchNorm2d(out_channels)]


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """A 'same'-padded convolution, batch normalisation and ReLU."""
    return nn.Sequential(*conv_bn(in_channels, out_channels, kernel), nn.ReLU(inplace=True))


@BLOCKS.register
class ConvBnRelu(Block):
    name = "conv_bn_relu"
    description = "convolution, batch normalisation, ReLU"

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        return conv_bn_relu(in_channels, out_channels, int(params["kernel"]))


class _ResidualModule(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(in_channels, out_channels, kernel), nn.ReLU(inplace=True), *conv_bn(out_channels, out_channels, kernel)
        )
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


@BLOCKS.register
class Residual(Block):
    name = "residual"
    description = "two conv-bn layers with an identity (or 1x1 projection) shortcut, as in ResNet"

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        return _ResidualModule(in_channels, out_channels, int(params["kernel"]))
