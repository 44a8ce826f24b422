"""Temporal trunks of sequence streams: the frames a stream stacks as channels are taken apart
and modelled over time, by a per-frame CNN cascaded into a GRU or LSTM, or by 3D or (2+1)D
convolutions. Recurrences are written with plain matmuls, so they run under ``torch.vmap``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from merauto.data.streams import StreamLayout
from merauto.evaluator.topologies import trunk_features

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


def temporal_trunk(kind: str, shape: tuple[int, ...], layout: StreamLayout, frame_trunk: Callable[[int], nn.Module]) -> nn.Module:
    """The ``kind`` trunk of a (C, H, W) sequence stream; ``frame_trunk(channels)`` builds the per-frame CNN of a cascade."""
    frames, roles = layout.frames, len(layout.roles)
    per_frame = shape[0] // frames
    if kind in ("gru", "lstm"):
        trunk = frame_trunk(per_frame)
        features = trunk_features(trunk, (per_frame, *shape[1:]))
        head = _GRU(features, HIDDEN) if kind == "gru" else _LSTM(features, HIDDEN)
        return _Cascade(trunk, head, frames, roles)
    if kind in ("conv3d", "conv2plus1d"):
        return _Conv3dTrunk(per_frame, frames, roles, factorised=kind == "conv2plus1d")
    raise ValueError(f"unknown temporal trunk {kind!r}")
