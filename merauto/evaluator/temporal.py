"""Temporal trunks of sequence streams, one registered class each: the frames a stream stacks as
channels are read by the topology's CNN as they are (``channels``), or taken apart and modelled
over time, by a per-frame CNN cascaded into a GRU or LSTM, or by 3D or (2+1)D convolutions.
Recurrences are written with plain matmuls, so they run under ``torch.vmap``.

A temporal trunk is chosen inside its input's parameters (``temporal``), sampled for every
input with an evenly spaced sequence stream. Adding a trunk is one class here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from merauto.data.streams import StreamLayout
from merauto.evaluator.topologies import trunk_features
from merauto.pipeline.registry import Component, Registry

HIDDEN = 32  # state size of the recurrent heads
WIDTHS = (16, 32)  # channels of the two stages of the 3D / (2+1)D trunks


def unstack(x: Tensor, frames: int, roles: int) -> Tensor:
    """(N, regions * frames * roles, H, W), frame-major within each region -> (N, frames, regions * roles, H, W)."""
    n, channels, height, width = x.shape
    regions = channels // (frames * roles)
    return x.reshape(n, regions, frames, roles, height, width).transpose(1, 2).reshape(n, frames, regions * roles, height, width)


class _GRU(nn.Module):
    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.from_input, self.from_state = nn.Linear(inputs, 3 * hidden), nn.Linear(hidden, 3 * hidden)

    def forward(self, sequence: Tensor) -> Tensor:
        """(N, T, F) -> the last state (N, hidden)."""
        state = torch.zeros(sequence.shape[0], self.hidden, dtype=sequence.dtype, device=sequence.device)
        for t in range(sequence.shape[1]):
            xr, xz, xn = self.from_input(sequence[:, t]).chunk(3, dim=1)
            hr, hz, hn = self.from_state(state).chunk(3, dim=1)
            reset, update = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            state = (1 - update) * torch.tanh(xn + reset * hn) + update * state
        return state


class _LSTM(nn.Module):
    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.from_input, self.from_state = nn.Linear(inputs, 4 * hidden), nn.Linear(hidden, 4 * hidden)

    def forward(self, sequence: Tensor) -> Tensor:
        """(N, T, F) -> the last hidden state (N, hidden)."""
        state = torch.zeros(sequence.shape[0], self.hidden, dtype=sequence.dtype, device=sequence.device)
        cell = state
        for t in range(sequence.shape[1]):
            i, f, g, o = (self.from_input(sequence[:, t]) + self.from_state(state)).chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            state = torch.sigmoid(o) * torch.tanh(cell)
        return state


class _Cascade(nn.Module):
    """The same CNN trunk on every frame, its features fed in time order to a recurrent head."""

    def __init__(self, frame_trunk: nn.Module, head: nn.Module, frames: int, roles: int) -> None:
        super().__init__()
        self.frame_trunk, self.head = frame_trunk, head
        self.frames, self.roles = frames, roles

    def forward(self, x: Tensor) -> Tensor:
        sequence = unstack(x, self.frames, self.roles)
        features = self.frame_trunk(sequence.flatten(0, 1))
        return self.head(features.view(sequence.shape[0], sequence.shape[1], -1))


def _conv3d_stage(in_channels: int, out_channels: int, factorised: bool) -> list[nn.Module]:
    """3x3x3 conv-bn-ReLU, or (2+1)D: 1x3x3 then 3x1x1, with the middle width that keeps the
    3D layer's parameter count (Tran et al. 2018); then 2x2 spatial max-pooling."""
    if not factorised:
        convs = [nn.Conv3d(in_channels, out_channels, 3, padding=1), nn.BatchNorm3d(out_channels), nn.ReLU()]
    else:
        middle = max(1, 27 * in_channels * out_channels // (9 * in_channels + 3 * out_channels))
        convs = [
            *(nn.Conv3d(in_channels, middle, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(middle), nn.ReLU()),
            *(nn.Conv3d(middle, out_channels, (3, 1, 1), padding=(1, 0, 0)), nn.BatchNorm3d(out_channels), nn.ReLU()),
        ]
    return [*convs, nn.MaxPool3d((1, 2, 2))]


class _Conv3dTrunk(nn.Module):
    def __init__(self, in_channels: int, frames: int, roles: int, factorised: bool) -> None:
        super().__init__()
        self.frames, self.roles = frames, roles
        stages, channels = [], in_channels
        for width in WIDTHS:
            stages += _conv3d_stage(channels, width, factorised)
            channels = width
        self.layers = nn.Sequential(*stages, nn.AdaptiveAvgPool3d(1), nn.Flatten())

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(unstack(x, self.frames, self.roles).transpose(1, 2))  # (N, C, T, H, W)


FrameTrunk = Callable[[int], nn.Module]  # channels -> the topology's CNN trunk on that many channels


class TemporalTrunk(Component):
    """A registered trunk of a (C, H, W) sequence stream whose channels stack ``layout.frames`` frames."""

    def accepts(self, layout: StreamLayout) -> bool:
        """Whether this trunk can read a stream laid out as ``layout`` (evenly spaced frames)."""
        return layout.evenly_spaced

    @abstractmethod
    def build(self, shape: tuple[int, ...], layout: StreamLayout, frame_trunk: FrameTrunk, params: dict[str, Any]) -> nn.Module:
        """The trunk of a stream of ``shape``; ``frame_trunk(channels)`` builds the topology's CNN."""


TEMPORAL_TRUNKS: Registry[TemporalTrunk] = Registry("temporal", default="channels")


@TEMPORAL_TRUNKS.register
class Channels(TemporalTrunk):
    name = "channels"
    description = "the frames stacked as channels of the topology's CNN (no modelling over time)"

    def build(self, shape: tuple[int, ...], layout: StreamLayout, frame_trunk: FrameTrunk, params: dict[str, Any]) -> nn.Module:
        return frame_trunk(shape[0])


class _Recurrent(TemporalTrunk):
    """The topology's CNN on every frame, cascaded into a recurrent head of :data:`HIDDEN` units."""

    head: type[nn.Module]

    def build(self, shape: tuple[int, ...], layout: StreamLayout, frame_trunk: FrameTrunk, params: dict[str, Any]) -> nn.Module:
        frames, roles = layout.frames, len(layout.roles)
        per_frame = shape[0] // frames
        trunk = frame_trunk(per_frame)
        return _Cascade(trunk, self.head(trunk_features(trunk, (per_frame, *shape[1:])), HIDDEN), frames, roles)


@TEMPORAL_TRUNKS.register
class Gru(_Recurrent):
    name = "gru"
    description = "a per-frame CNN cascaded into a GRU"
    head = _GRU


@TEMPORAL_TRUNKS.register
class Lstm(_Recurrent):
    name = "lstm"
    description = "a per-frame CNN cascaded into an LSTM"
    head = _LSTM


class _Volumetric(TemporalTrunk):
    """Two stages of 3D convolutions over (time, height, width), :data:`WIDTHS` channels."""

    factorised = False

    def build(self, shape: tuple[int, ...], layout: StreamLayout, frame_trunk: FrameTrunk, params: dict[str, Any]) -> nn.Module:
        return _Conv3dTrunk(shape[0] // layout.frames, layout.frames, len(layout.roles), self.factorised)


@TEMPORAL_TRUNKS.register
class Conv3d(_Volumetric):
    name = "conv3d"
    description = "3x3x3 convolutions over time and space"


@TEMPORAL_TRUNKS.register
class Conv2plus1d(_Volumetric):
    name = "conv2plus1d"
    description = "(2+1)D convolutions: 1x3x3 then 3x1x1, as many parameters as 3D (Tran et al. 2018)"
    factorised = True
