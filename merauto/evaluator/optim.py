"""Optimisers and learning-rate schedules of stacked models (one member axis).

Each optimiser applies torch.optim's update to the stepping members only, with one learning
rate per member; the others keep weights and state bit for bit. A schedule is a factor of the
base learning rate per epoch, so members at different epochs step with different rates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from merauto.errors import MerautoError

Grads = dict[str, Tensor | None]


class StackedOptimiser(ABC):
    """An optimiser over parameters stacked along a leading member axis."""

    def __init__(self, params: dict[str, Tensor], weight_decay: float) -> None:
        self.params = params
        self.weight_decay = weight_decay

    @abstractmethod
    def step(self, members: Tensor, grads: Grads, lr: Tensor, steps: Tensor) -> None:
        """Update ``members`` with per-member learning rates ``lr`` (float64, one each);
        ``steps`` counts each member's steps, this one included."""


class AdamW(StackedOptimiser):
    """torch.optim.AdamW with its default betas and eps."""

    betas, eps = (0.9, 0.999), 1e-8

    def __init__(self, params: dict[str, Tensor], weight_decay: float) -> None:
        super().__init__(params, weight_decay)
        self.exp_avg = {k: torch.zeros_like(v) for k, v in params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, members: Tensor, grads: Grads, lr: Tensor, steps: Tensor) -> None:
        beta1, beta2 = self.betas
        for name, param in self.params.items():
            grad = grads[name]
            if grad is None:
                continue
            shape = (-1,) + (1,) * (param.dim() - 1)
            p, g = param[members], grad[members]
            rate = lr.view(shape)
            m = self.exp_avg[name][members].lerp(g, 1 - beta1)
            v = self.exp_avg_sq[name][members] * beta2 + (1 - beta2) * g * g
            correction1 = (1 - beta1**steps).view(shape).to(p.dtype)
            correction2 = (1 - beta2**steps).view(shape).to(p.dtype)
            denominator = v.sqrt() / correction2.sqrt() + self.eps
            step_size = correction1.reciprocal() * rate.to(p.dtype)  # lr / correction1, rounded as a Python lr would be
            p = p * (1 - rate * self.weight_decay).to(p.dtype) - step_size * m / denominator
            param[members] = p
            self.exp_avg[name][members] = m
            self.exp_avg_sq[name][members] = v


class SGD(StackedOptimiser):
    """torch.optim.SGD with Nesterov momentum 0.9 and (coupled, L2) weight decay."""

    momentum = 0.9

    def __init__(self, params: dict[str, Tensor], weight_decay: float) -> None:
        super().__init__(params, weight_decay)
        self.buffer = {k: torch.zeros_like(v) for k, v in params.items()}  # zero: the first step's buffer is the gradient

    def step(self, members: Tensor, grads: Grads, lr: Tensor, steps: Tensor) -> None:
        for name, param in self.params.items():
            grad = grads[name]
            if grad is None:
                continue
            shape = (-1,) + (1,) * (param.dim() - 1)
            p = param[members]
            g = grad[members] + self.weight_decay * p
            buffer = self.buffer[name][members] * self.momentum + g
            param[members] = p - lr.view(shape).to(p.dtype) * (g + self.momentum * buffer)
            self.buffer[name][members] = buffer


OPTIMISERS: dict[str, type[StackedOptimiser]] = {"adamw": AdamW, "sgd": SGD}


def constant(epoch: int, epochs: int) -> float:
    return 1.0


def cosine(epoch: int, epochs: int) -> float:
    """Cosine annealing to 0 over ``epochs`` (Loshchilov & Hutter 2017, without restarts)."""
    return 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def step(epoch: int, epochs: int) -> float:
    """x0.1 at 50% and again at 75% of ``epochs``."""
    return 0.1 ** ((epoch >= epochs // 2) + (epoch >= 3 * epochs // 4))


WARMUP = 0.1  # fraction of the epochs spent warming up


def warmup_cosine(epoch: int, epochs: int) -> float:
    """Linear warm-up over the first 10% of the epochs (Goyal et al. 2017), then cosine to 0."""
    warm = max(1, round(WARMUP * epochs))
    if epoch < warm:
        return (epoch + 1) / warm
    return cosine(epoch - warm, epochs - warm)


SCHEDULES: dict[str, Callable[[int, int], float]] = {
    "constant": constant,
    "cosine": cosine,
    "step": step,
    "warmup_cosine": warmup_cosine,
}


def build_optimiser(name: str, params: dict[str, Tensor], weight_decay: float) -> StackedOptimiser:
    if name not in OPTIMISERS:
        raise MerautoError(f"unknown optimiser {name!r}", f"choose one of: {', '.join(OPTIMISERS)}")
    return OPTIMISERS[name](params, weight_decay)


def schedule(name: str) -> Callable[[int, int], float]:
    if name not in SCHEDULES:
        raise MerautoError(f"unknown learning-rate schedule {name!r}", f"choose one of: {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
