"""Losses (survey §5.4). Each builds a callable (logits, targets) -> scalar loss."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor

from merauto.search_space.registry import Component, Registry

LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]


class Loss(Component):
    """A registered loss. Its function takes (logits, targets, class_weights); the weights come
    from the model's own training rows (all ones when weighting is off)."""

    @abstractmethod
    def build(self, params: dict[str, Any]) -> LossFunction:
        """The loss function."""


LOSSES: Registry[Loss] = Registry("loss")


@LOSSES.register
class CrossEntropy(Loss):
    name = "cross_entropy"
    description = "softmax cross-entropy with optional label smoothing"
    defaults = {"label_smoothing": 0.0}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"label_smoothing": trial.suggest_float(prefix + "label_smoothing", 0.0, 0.2)}

    def build(self, params: dict[str, Any]) -> LossFunction:
        smoothing = float(params["label_smoothing"])
        return lambda logits, y, weights: F.cross_entropy(logits, y, weight=weights, label_smoothing=smoothing)


def focal_loss(logits: Tensor, targets: Tensor, gamma: float, class_weights: Tensor) -> Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_t)^gamma, class-weighted mean."""
    log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    loss = -((1 - log_p.exp()) ** gamma) * log_p
    weights = class_weights[targets]
    return (weights * loss).sum() / weights.sum().clamp_min(torch.finfo(loss.dtype).tiny)


@LOSSES.register
class Focal(Loss):
    name = "focal"
    description = "focal loss, down-weighting easy samples (gamma searched)"
    defaults = {"gamma": 2.0}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"gamma": trial.suggest_float(prefix + "gamma", 0.5, 4.0)}

    def build(self, params: dict[str, Any]) -> LossFunction:
        gamma = float(params["gamma"])
        return lambda logits, y, weights: focal_loss(logits, y, gamma, weights)
