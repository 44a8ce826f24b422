"""Optimisers and learning-rate schedules of stacked models (one member axis), registered components.

Each optimiser applies torch.optim's update to the stepping members only, with one learning
rate per member; the others keep weights and state bit for bit. A schedule is a factor of the
base learning rate per epoch, so members at different epochs step with different rates.
A config names them in ``training.optimiser`` and ``training.schedule``; adding either is one
class here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import optuna
import torch
from torch import Tensor

from merauto.spec.registry import Component, Registry

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


class Optimiser(Component):
    """A registered optimiser: its learning-rate range (searched on a log scale, as
    ``training.lr``) and the stacked update it trains with."""

    lr_range: tuple[float, float] = (1e-4, 1e-2)
    stacked: type[StackedOptimiser]

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"lr": trial.suggest_float(prefix + "lr", *self.lr_range, log=True)}

    def build(self, params: dict[str, Tensor], weight_decay: float) -> StackedOptimiser:
        """The optimiser of stacked ``params``."""
        return self.stacked(params, weight_decay)


OPTIMISERS: Registry[Optimiser] = Registry("optimiser", default="adamw")


@OPTIMISERS.register
class AdamWOptimiser(Optimiser):
    name = "adamw"
    description = "AdamW (decoupled weight decay, default betas)"
    lr_range = (1e-4, 1e-2)
    stacked = AdamW


@OPTIMISERS.register
class SGDOptimiser(Optimiser):
    name = "sgd"
    description = "SGD with Nesterov momentum 0.9 and L2 weight decay; its steps are not normalised, so larger rates"
    lr_range = (1e-3, 1e-1)
    stacked = SGD


class Schedule(Component):
    """A registered learning-rate schedule: the factor of the base rate at each epoch."""

    @abstractmethod
    def factor(self, epoch: int, epochs: int) -> float:
        """The learning-rate factor of 0-based ``epoch`` out of ``epochs``."""


SCHEDULES: Registry[Schedule] = Registry("schedule", default="constant")


@SCHEDULES.register
class Constant(Schedule):
    name = "constant"
    description = "the base learning rate throughout"

    def factor(self, epoch: int, epochs: int) -> float:
        return 1.0


def cosine(epoch: int, epochs: int) -> float:
    """Cosine annealing to 0 over ``epochs`` (Loshchilov & Hutter 2017, without restarts)."""
    return 0.5 * (1 + math.cos(math.pi * epoch / epochs))


@SCHEDULES.register
class Cosine(Schedule):
    name = "cosine"
    description = "cosine annealing to 0 (Loshchilov & Hutter 2017, without restarts)"

    def factor(self, epoch: int, epochs: int) -> float:
        return cosine(epoch, epochs)


@SCHEDULES.register
class Step(Schedule):
    name = "step"
    description = "x0.1 at 50% and again at 75% of the epochs"

    def factor(self, epoch: int, epochs: int) -> float:
        return 0.1 ** ((epoch >= epochs // 2) + (epoch >= 3 * epochs // 4))


WARMUP = 0.1  # fraction of the epochs spent warming up


@SCHEDULES.register
class WarmupCosine(Schedule):
    name = "warmup_cosine"
    description = f"linear warm-up over the first {WARMUP:.0%} of the epochs (Goyal et al. 2017), then cosine to 0"

    def factor(self, epoch: int, epochs: int) -> float:
        warm = max(1, round(WARMUP * epochs))
        if epoch < warm:
            return (epoch + 1) / warm
        return cosine(epoch - warm, epochs - warm)
