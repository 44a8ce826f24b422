"""Transformer encoder over the map's positions or patches as tokens (written with plain
matmuls and softmax, so it runs under ``torch.vmap``)."""

from __future__ import annotations

import math
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.evaluator.blocks.core import BLOCKS, Block

MAX_TOKENS_SIDE = 14  # larger maps are average-pooled to at most 14x14 tokens (attention is quadratic)


def sinusoidal(length: int, dim: int, device: torch.device) -> Tensor:
    """The (length, dim) sine/cosine encoding of positions 0..length-1 (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    index = torch.arange(dim, device=device)
    frequency = torch.exp(-math.log(10_000.0) * (index - index % 2).float() / max(dim, 1))
    angle = position * frequency
    return torch.where(index % 2 == 0, torch.sin(angle), torch.cos(angle))


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, t, d))


class _EncoderLayer(nn.Module):
    """Pre-norm encoder layer: x + attention(norm(x)), then x + MLP(norm(x)) with a 2x hidden width."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = _Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransformerBlock(nn.Module):
    """p x p patches -> tokens of ``out`` channels (+ position) -> encoder -> each token back over its patch."""

    def __init__(self, in_channels: int, out_channels: int, patch: int, layers: int, heads: int, position: str) -> None:
        super().__init__()
        self.patch = patch
        self.out_channels = out_channels
        self.project = nn.Linear(in_channels * patch * patch, out_channels)
        learned = position == "learned"  # a row and a column table, summed: any grid up to the largest
        self.rows = nn.Parameter(torch.randn(MAX_TOKENS_SIDE, out_channels) * 0.02) if learned else None
        self.columns = nn.Parameter(torch.randn(MAX_TOKENS_SIDE, out_channels) * 0.02) if learned else None
        self.encoder = nn.Sequential(*[_EncoderLayer(out_channels, heads) for _ in range(layers)])

    def _position(self, h: int, w: int, device: torch.device) -> Tensor:
        if self.rows is not None and self.columns is not None:
            return (self.rows[:h, None, :] + self.columns[None, :w, :]).reshape(h * w, self.out_channels)
        half = self.out_channels // 2
        rows, columns = sinusoidal(h, half, device), sinusoidal(w, self.out_channels - half, device)
        return torch.cat([rows[:, None, :].expand(h, w, half), columns[None, :, :].expand(h, w, -1)], dim=2).reshape(h * w, -1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, height, width = x.shape
        p = self.patch
        pool = math.ceil(max(height, width) / (MAX_TOKENS_SIDE * p))  # > 1: the map is average-pooled first
        cell = pool * p
        h, w = math.ceil(height / cell), math.ceil(width / cell)
        x = F.pad(x, (0, w * cell - width, 0, h * cell - height))
        patches = x.reshape(n, c, h, p, pool, w, p, pool).mean(dim=(4, 7))
        tokens = self.project(patches.permute(0, 2, 4, 1, 3, 5).reshape(n, h * w, c * p * p))
        tokens = self.encoder(tokens + self._position(h, w, x.device))
        grid = tokens.transpose(1, 2).reshape(n, self.out_channels, h, 1, w, 1).expand(-1, -1, -1, cell, -1, cell)
        return grid.reshape(n, self.out_channels, h * cell, w * cell)[:, :, :height, :width]


@BLOCKS.register
class Transformer(Block):
    name = "transformer"
    description = (
        "transformer encoder: every position (patch 1) or p x p patch is a token projected to `out` channels, "
        "learned or sinusoidal 2-D position encoding, 1-2 pre-norm layers, gcd(out, heads) heads; "
        f"maps larger than {MAX_TOKENS_SIDE}x{MAX_TOKENS_SIDE} tokens are average-pooled first; tokens are spread back over their patches"
    )
    defaults = {"patch": 2, "layers": 1, "heads": 2, "position": "learned"}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "patch": trial.suggest_categorical(prefix + "patch", [1, 2, 4]),
            "layers": trial.suggest_int(prefix + "layers", 1, 2),
            "heads": trial.suggest_categorical(prefix + "heads", [1, 2, 4]),
            "position": trial.suggest_categorical(prefix + "position", ["learned", "sinusoidal"]),
        }

    def build(self, in_channels: int, out_channels: int, params: dict[str, Any]) -> nn.Module:
        heads = math.gcd(out_channels, int(params["heads"]))
        return TransformerBlock(in_channels, out_channels, int(params["patch"]), int(params["layers"]), heads, str(params["position"]))
