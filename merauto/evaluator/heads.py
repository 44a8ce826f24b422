"""Auxiliary training terms and the multi-task slot (survey §5.3).

An auxiliary term adds a loss to a model's training batch, usually through its own head on
the features the classifier reads (``MultiStreamNet.aux``). Auxiliary heads are trained with
the model and never read at prediction: the main task's predictions keep their shape.

A term's targets are per-row arrays over the whole data set, indexed only by the rows of a
member's training batch, so a model reads the auxiliary labels of its own training rows and
nothing else. ``tasks`` offers ``single`` (the identity), ``source`` (predict the clip's
source dataset) and ``au`` (multi-label action units, binary cross-entropy).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.errors import MerautoError
from merauto.pipeline.registry import Component, Registry


@dataclass(frozen=True)
class RowTargets:
    """Auxiliary targets of every row: source-dataset index and, where every row is annotated,
    the multi-hot action units. The list of sources (like the class list) is dataset metadata."""

    sources: np.ndarray  # (n,) int64 index into the sorted source names
    n_sources: int
    action_units: np.ndarray | None = None  # (n, k) float32 multi-hot

    @classmethod
    def of(cls, sources: np.ndarray, action_units: np.ndarray | None = None) -> RowTargets:
        names, index = np.unique(sources, return_inverse=True)
        return cls(index.astype(np.int64), len(names), action_units)


@dataclass(frozen=True)
class AuxBatch:
    """One member's training batch as an auxiliary term sees it."""

    member: int
    rows: Tensor  # (b,) data rows of the batch: the member's own training rows
    logits: Tensor  # (b, n_classes)
    features: Tensor  # (b, feature_dim): what the classifier read
    progress: float  # epochs the member has completed / its maximum number of epochs


AuxHead = Callable[[Tensor], Tensor]  # the term's head with one member's parameters


@dataclass(frozen=True)
class AuxTerm:
    """A loss added to a member's training batch; ``head`` builds its head from the feature width."""

    loss: Callable[[AuxBatch, AuxHead], Tensor]
    head: Callable[[int], nn.Module] | None = None


def _targets(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


class Task(Component):
    """A registered multi-task choice: an auxiliary head and its loss, or none."""

    @abstractmethod
    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device) -> AuxTerm | None:
        """The auxiliary term of this task (``None``: the main task only)."""


TASKS: Registry[Task] = Registry("tasks")


@TASKS.register
class Single(Task):
    name = "single"
    description = "the emotion class only (the identity)"

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device) -> AuxTerm | None:
        return None


class _WeightedTask(Task):
    defaults = {"weight": 0.3}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"weight": trial.suggest_float(prefix + "weight", 0.05, 1.0, log=True)}


@TASKS.register
class Source(_WeightedTask):
    name = "source"
    description = "+ weight x cross-entropy of an auxiliary head predicting the clip's source dataset (composite only)"

    def available(self, context: Any = None) -> bool:
        return context is None or context.n_sources > 1

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device) -> AuxTerm:
        weight, sources = float(params["weight"]), _targets(targets.sources, device)
        return AuxTerm(
            lambda batch, head: weight * F.cross_entropy(head(batch.features), sources[batch.rows]),
            lambda dim: nn.Linear(dim, targets.n_sources),
        )


@TASKS.register
class ActionUnits(_WeightedTask):
    name = "au"
    description = "+ weight x binary cross-entropy of an auxiliary multi-label action-unit head (every clip AU-coded)"

    def available(self, context: Any = None) -> bool:
        return context is None or context.au_labels

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device) -> AuxTerm:
        if targets.action_units is None:
            raise MerautoError("tasks=au needs action-unit labels on every clip", "choose another task, or a dataset coded with AUs")
        weight, units = float(params["weight"]), _targets(targets.action_units, device)
        return AuxTerm(
            lambda batch, head: weight * F.binary_cross_entropy_with_logits(head(batch.features), units[batch.rows]),
            lambda dim: nn.Linear(dim, units.shape[1]),
        )
