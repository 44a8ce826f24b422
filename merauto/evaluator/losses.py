"""Losses (survey §5.4): one registered class each, with the classifier head it trains.

A :class:`Loss` gives the model its head (:meth:`Loss.head`: a linear layer unless the loss
needs another, e.g. a cosine head or learnable class centres) and a :class:`Criterion`. The
head is part of the model, so whatever it learns is stacked and optimised by the engine with
every other parameter; at prediction the logits are the head's plain output (no margin).

A criterion has a classification term, computed on the head's logits once per mixup target
and weighted by that target's weight, and optionally an embedding term on the features the
head reads (e.g. a centre or triplet loss), computed on the first mixup target only: each
sample's own label (mixup pairs it with a permuted partner, and a mixed sample has no single
class for a metric loss). Class weights come from the model's own training rows (all ones
when weighting is off) and weight every classification term.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.pipeline.registry import Component, Registry


@dataclass(frozen=True)
class LossInputs:
    """One model's training batch as a loss sees it."""

    logits: Tensor  # (b, n_classes): the head's output
    features: Tensor  # (b, feature_dim): what the head reads
    targets: Tensor  # (b,) class indices
    class_weights: Tensor  # (n_classes,)
    head: dict[str, Tensor]  # the head's parameters by name (e.g. "centres")


Term = Callable[[LossInputs], Tensor]


@dataclass(frozen=True)
class Criterion:
    """A classification term (per mixup target) plus an optional embedding term (first target)."""

    classification: Term
    embedding: Term | None = None

    def __call__(
        self, logits: Tensor, features: Tensor, targets: Sequence[tuple[float, Tensor]], class_weights: Tensor, head: dict[str, Tensor]
    ) -> Tensor:
        """The loss of one model's batch; ``targets`` are (weight, labels) pairs (one without mixup)."""
        loss = sum(w * self.classification(LossInputs(logits, features, t, class_weights, head)) for w, t in targets)
        if self.embedding is not None:
            loss = loss + self.embedding(LossInputs(logits, features, targets[0][1], class_weights, head))
        return loss


class Loss(Component):
    """A registered loss: its head and its criterion."""

    def head(self, feature_dim: int, n_classes: int, params: dict[str, Any]) -> nn.Module:
        """The classifier on the features (a linear layer unless the loss needs another)."""
        return nn.Linear(feature_dim, n_classes)

    @abstractmethod
    def build(self, params: dict[str, Any]) -> Criterion:
        """The training criterion."""


LOSSES: Registry[Loss] = Registry("loss")


def cross_entropy(batch: LossInputs, label_smoothing: float = 0.0) -> Tensor:
    """Class-weighted softmax cross-entropy of a batch, with optional label smoothing."""
    return F.cross_entropy(batch.logits, batch.targets, weight=batch.class_weights, label_smoothing=label_smoothing)


def _suggest_weight(trial: optuna.Trial, prefix: str, low: float, high: float) -> float:
    return trial.suggest_float(prefix + "weight", low, high, log=True)


@LOSSES.register
class CrossEntropy(Loss):
    name = "cross_entropy"
    description = "softmax cross-entropy with optional label smoothing"
    defaults = {"label_smoothing": 0.0}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"label_smoothing": trial.suggest_float(prefix + "label_smoothing", 0.0, 0.2)}

    def build(self, params: dict[str, Any]) -> Criterion:
        smoothing = float(params["label_smoothing"])
        return Criterion(lambda batch: cross_entropy(batch, smoothing))


# ----------------------------------------------------------------------------- focal
FLSD_THRESHOLD, FLSD_GAMMAS = 0.2, (5.0, 3.0)  # Mukhoti et al. 2020, FLSD-53


def focal_loss(logits: Tensor, targets: Tensor, gamma: float | Tensor, class_weights: Tensor) -> Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_t)^gamma, class-weighted mean."""
    log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    loss = -((1 - log_p.exp()) ** gamma) * log_p
    weights = class_weights[targets]
    return (weights * loss).sum() / weights.sum().clamp_min(torch.finfo(loss.dtype).tiny)


def sample_dependent_gamma(logits: Tensor, targets: Tensor) -> Tensor:
    """FLSD-53 (Mukhoti et al. 2020): gamma 5 where the true-class probability is below 0.2, else 3."""
    p = F.softmax(logits.detach(), dim=1).gather(1, targets[:, None]).squeeze(1)
    high, low = FLSD_GAMMAS
    return torch.where(p < FLSD_THRESHOLD, high, low).to(logits.dtype)


@LOSSES.register
class Focal(Loss):
    name = "focal"
    description = "focal loss, down-weighting easy samples: gamma searched, or sample-dependent (FLSD-53)"
    defaults = {"gamma": 2.0, "adaptive": False}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        if trial.suggest_categorical(prefix + "adaptive", [False, True]):
            return {"adaptive": True}
        return {"adaptive": False, "gamma": trial.suggest_float(prefix + "gamma", 0.5, 4.0)}

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved = super().resolve(params)
        return {"adaptive": True} if resolved["adaptive"] else resolved

    def build(self, params: dict[str, Any]) -> Criterion:
        if params["adaptive"]:
            return Criterion(lambda b: focal_loss(b.logits, b.targets, sample_dependent_gamma(b.logits, b.targets), b.class_weights))
        gamma = float(params["gamma"])
        return Criterion(lambda b: focal_loss(b.logits, b.targets, gamma, b.class_weights))


# ----------------------------------------------------------------------------- centre loss
class CentreHead(nn.Linear):
    """A linear classifier that also holds one learnable centre per class (``centres``)."""

    def __init__(self, feature_dim: int, n_classes: int) -> None:
        super().__init__(feature_dim, n_classes)
        self.centres = nn.Parameter(torch.randn(n_classes, feature_dim))


def centre_loss(batch: LossInputs) -> Tensor:
    """Wen et al. 2016: half the mean squared distance of each feature to its class centre. The
    centres are learnt by the model's optimiser with every other parameter (as common
    implementations do), not by the paper's separate moving-average rule."""
    return 0.5 * (batch.features - batch.head["centres"][batch.targets]).pow(2).sum(1).mean()


@LOSSES.register
class Centre(Loss):
    name = "centre"
    description = "softmax cross-entropy + weight x centre loss (learnable class centres)"
    defaults = {"weight": 0.01}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"weight": _suggest_weight(trial, prefix, 1e-3, 0.1)}

    def head(self, feature_dim: int, n_classes: int, params: dict[str, Any]) -> nn.Module:
        return CentreHead(feature_dim, n_classes)

    def build(self, params: dict[str, Any]) -> Criterion:
        weight = float(params["weight"])
        return Criterion(cross_entropy, lambda batch: weight * centre_loss(batch))


# ----------------------------------------------------------------------------- triplet
def batch_hard_triplet(features: Tensor, targets: Tensor, margin: float) -> Tensor:
    """Hermans et al. 2017: per anchor, the farthest positive and the nearest negative of the
    batch on L2-normalised features; the mean hinge over anchors that have both (0 if none)."""
    z = F.normalize(features, dim=1)
    distance = (z[:, None] - z[None]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    same = targets[:, None] == targets[None]
    positive = same & ~torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    valid = positive.any(1) & (~same).any(1)
    hardest_positive = distance.masked_fill(~positive, -math.inf).amax(1)
    hardest_negative = distance.masked_fill(same, math.inf).amin(1)
    hinge = F.relu(margin + hardest_positive - hardest_negative)
    return torch.where(valid, hinge, 0.0).sum() / valid.sum().clamp_min(1)  # masks, not branches: it runs under vmap


@LOSSES.register
class Triplet(Loss):
    name = "triplet"
    description = "softmax cross-entropy + weight x batch-hard triplet loss on normalised features"
    defaults = {"weight": 0.5, "margin": 0.2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"weight": _suggest_weight(trial, prefix, 0.1, 1.0), "margin": trial.suggest_float(prefix + "margin", 0.1, 0.5)}

    def build(self, params: dict[str, Any]) -> Criterion:
        weight, margin = float(params["weight"]), float(params["margin"])
        return Criterion(cross_entropy, lambda batch: weight * batch_hard_triplet(batch.features, batch.targets, margin))


# ----------------------------------------------------------------------------- supervised contrastive
def supervised_contrastive(features: Tensor, targets: Tensor, temperature: float) -> Tensor:
    """Khosla et al. 2020 (L_out): for each anchor, the mean over its positives of the log-softmax
    of scaled cosine similarities to every other sample; averaged over anchors with a positive."""
    z = F.normalize(features, dim=1)
    similarity = z @ z.T / temperature
    self_mask = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    log_prob = similarity - similarity.masked_fill(self_mask, -math.inf).logsumexp(1, keepdim=True)
    positive = (targets[:, None] == targets[None]) & ~self_mask
    count = positive.sum(1)
    valid = count > 0
    mean_log_prob = log_prob.masked_fill(~positive, 0.0).sum(1) / count.clamp_min(1)
    return -torch.where(valid, mean_log_prob, 0.0).sum() / valid.sum().clamp_min(1)  # masks, not branches: it runs under vmap


@LOSSES.register
class SupCon(Loss):
    name = "supcon"
    description = "softmax cross-entropy + weight x supervised contrastive loss (temperature searched)"
    defaults = {"weight": 0.5, "temperature": 0.1}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "weight": _suggest_weight(trial, prefix, 0.1, 1.0),
            "temperature": trial.suggest_float(prefix + "temperature", 0.05, 0.5, log=True),
        }

    def build(self, params: dict[str, Any]) -> Criterion:
        weight, temperature = float(params["weight"]), float(params["temperature"])
        return Criterion(cross_entropy, lambda batch: weight * supervised_contrastive(batch.features, batch.targets, temperature))


# ----------------------------------------------------------------------------- margin losses
class CosineHead(nn.Module):
    """``scale`` times the cosine between each feature and each class weight (no bias)."""

    def __init__(self, feature_dim: int, n_classes: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, feature_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale

    def forward(self, features: Tensor) -> Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T


class MarginLoss(Loss):
    """A cosine head; the criterion adds a margin to the target class's cosine."""

    def head(self, feature_dim: int, n_classes: int, params: dict[str, Any]) -> nn.Module:
        return CosineHead(feature_dim, n_classes, float(params["scale"]))

    @abstractmethod
    def target_logit(self, cosine: Tensor, params: dict[str, Any]) -> Tensor:
        """The target class's cosine with the margin applied."""

    def build(self, params: dict[str, Any]) -> Criterion:
        scale = float(params["scale"])

        def margin_cross_entropy(batch: LossInputs) -> Tensor:
            cosine = batch.logits / scale
            target = F.one_hot(batch.targets, cosine.shape[1]).bool()
            logits = scale * torch.where(target, self.target_logit(cosine, params), cosine)
            return F.cross_entropy(logits, batch.targets, weight=batch.class_weights)

        return Criterion(margin_cross_entropy)


@LOSSES.register
class CosFace(MarginLoss):
    name = "cosface"
    description = "large-margin cosine loss (CosFace): s * (cos - m) for the target class"
    defaults = {"scale": 30.0, "margin": 0.35}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "scale": trial.suggest_float(prefix + "scale", 8.0, 64.0, log=True),
            "margin": trial.suggest_float(prefix + "margin", 0.1, 0.45),
        }

    def target_logit(self, cosine: Tensor, params: dict[str, Any]) -> Tensor:
        return cosine - float(params["margin"])


@LOSSES.register
class ArcFace(MarginLoss):
    name = "arcface"
    description = "additive angular margin loss (ArcFace): s * cos(theta + m) for the target class"
    defaults = {"scale": 30.0, "margin": 0.5, "easy_margin": False}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "scale": trial.suggest_float(prefix + "scale", 8.0, 64.0, log=True),
            "margin": trial.suggest_float(prefix + "margin", 0.1, 0.5),
            "easy_margin": trial.suggest_categorical(prefix + "easy_margin", [False, True]),
        }

    def target_logit(self, cosine: Tensor, params: dict[str, Any]) -> Tensor:
        """cos(theta + m) where theta + m stays in [0, pi]; beyond it, the paper's reference code
        continues monotonically with cos - m sin(m) (or, with ``easy_margin``, keeps cos for theta > pi/2)."""
        m = float(params["margin"])
        sine = (1 - cosine.pow(2)).clamp_min(1e-7).sqrt()
        shifted = cosine * math.cos(m) - sine * math.sin(m)
        if params["easy_margin"]:
            return torch.where(cosine > 0, shifted, cosine)
        return torch.where(cosine > math.cos(math.pi - m), shifted, cosine - math.sin(math.pi - m) * m)
