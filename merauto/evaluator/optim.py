"""Optimisers, learning-rate schedules and weight averages of stacked models (one member axis), registered components.

Each optimiser applies torch.optim's update to the stepping members only, with one learning
rate per member; the others keep weights and state bit for bit. A schedule is a factor of the
base learning rate per epoch, so members at different epochs step with different rates. A weight
average keeps a second copy of each member's weights, the one it is evaluated with, updated
after the member's own steps or epochs only.
A config names them in ``training.optimiser``, ``training.schedule`` and ``training.averaging``;
adding any is one class here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import optuna
import torch
from torch import Tensor

from merauto.pipeline.config import TrainingConfig
from merauto.pipeline.registry import Component, Registry

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


class WeightAverage:
    """Averaged copies of stacked trained weights (parameters and buffers, batch-norm statistics
    included), one per member: ``average <- average + w (trained - average)`` with a weight w of
    each updated member; integer buffers (batch counts) are copied. Starts as the trained weights."""

    def __init__(self, params: dict[str, Tensor], buffers: dict[str, Tensor]) -> None:
        self.trained = {**params, **buffers}
        self.params = {k: v.detach().clone() for k, v in params.items()}
        self.buffers = {k: v.clone() for k, v in buffers.items()}

    def after_step(self, members: Tensor, steps: Tensor) -> None:
        """After an optimiser step of ``members``; ``steps`` counts each one's steps, this one included."""

    def after_epoch(self, members: Tensor, epochs: Tensor) -> None:
        """After an epoch of ``members``; ``epochs`` counts each one's epochs, this one included."""

    @torch.no_grad()
    def _update(self, members: Tensor, weight: Tensor) -> None:
        for averaged in (self.params, self.buffers):
            for name, value in averaged.items():
                current = self.trained[name][members].detach()
                if not value.is_floating_point():
                    value[members] = current
                    continue
                shape = (-1,) + (1,) * (value.dim() - 1)
                value[members] = value[members].lerp(current, weight.view(shape).to(value.dtype))


class ExponentialAverage(WeightAverage):
    """Exponential moving average over the steps, zero-debiased as Adam's moments are: after t steps,
    the weights of steps 1..t weighted by decay^(t-i) (1 - decay) / (1 - decay^t), so a short
    training is not pulled towards the initial weights."""

    def __init__(self, params: dict[str, Tensor], buffers: dict[str, Tensor], decay: float) -> None:
        super().__init__(params, buffers)
        self.decay = decay

    def after_step(self, members: Tensor, steps: Tensor) -> None:
        self._update(members, (1 - self.decay) / (1 - self.decay**steps))


class StochasticAverage(WeightAverage):
    """The equal average of the weights at the end of each epoch after the first ``start`` epochs
    (the trained weights until then). Batch-norm statistics are averaged alike, not recomputed
    with a pass over the training rows as ``torch.optim.swa_utils.update_bn`` would."""

    def __init__(self, params: dict[str, Tensor], buffers: dict[str, Tensor], start: int) -> None:
        super().__init__(params, buffers)
        self.start = start

    def after_epoch(self, members: Tensor, epochs: Tensor) -> None:
        self._update(members, 1 / (epochs - self.start).clamp(min=1).to(torch.float64))


class Averaging(Component):
    """A registered weight average: what each member is evaluated with (inner validation, snapshots,
    test predictions, exported weights). Its hyper-parameters are training settings named
    ``<name>_<param>`` (``training.ema_decay``), chosen as :func:`~merauto.pipeline.registry.suggest_embedded` does."""

    def build(self, params: dict[str, Tensor], buffers: dict[str, Tensor], hyper: dict[str, Any], max_epochs: int) -> WeightAverage | None:
        """The average of stacked ``params`` and ``buffers`` (``None``: members are evaluated with their trained weights)."""
        return None


AVERAGING: Registry[Averaging] = Registry("averaging", default="none")


@AVERAGING.register
class NoAveraging(Averaging):
    name = "none"
    description = "each model evaluated with its trained weights"


@AVERAGING.register
class EMA(Averaging):
    name = "ema"
    description = "exponential moving average of the weights over the steps (zero-debiased), batch-norm statistics included"
    defaults = {"decay": TrainingConfig.ema_decay}
    choices = {"decay": (0.9, 0.99, 0.999)}

    def build(self, params: dict[str, Tensor], buffers: dict[str, Tensor], hyper: dict[str, Any], max_epochs: int) -> WeightAverage | None:
        return ExponentialAverage(params, buffers, float(hyper["decay"]))


@AVERAGING.register
class SWA(Averaging):
    name = "swa"
    description = "stochastic weight averaging (Izmailov et al. 2018): equal average of each epoch's weights after a fraction of max epochs"
    defaults = {"start": TrainingConfig.swa_start}
    choices = {"start": (0.25, 0.5, 0.75)}

    def build(self, params: dict[str, Tensor], buffers: dict[str, Tensor], hyper: dict[str, Any], max_epochs: int) -> WeightAverage | None:
        return StochasticAverage(params, buffers, round(float(hyper["start"]) * max_epochs))
