"""Training strategies (survey §5.5): from scratch, fine-tuning, domain-adversarial, distillation.

A strategy may add an auxiliary term to each member's training batch (see
:mod:`merauto.evaluator.heads`), may ask for a teacher: a wider model of the same config
that the engine trains, as its own set of members, on exactly each member's training rows
before the member itself (so a teacher never sees a row its student may not see), and may
start every member from a checkpoint instead of a random initialisation.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merauto.errors import MerautoError
from merauto.evaluator.heads import AuxBatch, AuxHead, AuxTerm, RowTargets
from merauto.evaluator.weights_file import load_weights
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.pipeline.registry import Component, Registry


class Strategy(Component):
    """A registered training strategy."""

    initialises = False  # whether members start from the run's checkpoint

    def teacher(self, config: PipelineConfig, params: dict[str, Any]) -> PipelineConfig | None:
        """The config of the teacher each member distils from (``None``: no teacher)."""
        return None

    @abstractmethod
    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device, teacher_logits: Tensor | None) -> AuxTerm | None:
        """The auxiliary term; ``teacher_logits`` (M, n_rows, n_classes) hold each member's
        teacher's logits on that member's training rows (zero elsewhere)."""


STRATEGIES: Registry[Strategy] = Registry("strategy")


@STRATEGIES.register
class Scratch(Strategy):
    name = "scratch"
    description = "train from random initialisation (the identity)"

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device, teacher_logits: Tensor | None) -> AuxTerm | None:
        return None


# ----------------------------------------------------------------------------- fine-tuning
@dataclass(frozen=True)
class Checkpoint:
    """Weights to start from: the ``state_dict`` of the ``model.safetensors`` (or, from older
    exports, ``model.pt``) written by ``merauto export``."""

    path: str
    state: dict[str, Tensor]

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """The state dict of an export's weights file (:func:`~merauto.evaluator.weights_file.load_weights`)."""
        weights = load_weights(Path(path))
        if "state_dict" not in weights:
            raise MerautoError(
                f"{path} holds no state_dict: it is not the weights of a merauto export",
                "pass the model.safetensors (or model.pt) written by merauto export",
            )
        return cls(str(path), weights["state_dict"])

    def apply(self, model: nn.Module) -> None:
        """Copy the checkpoint into ``model`` (its auxiliary heads, training-only, keep their initialisation)."""
        own = {k: v for k, v in model.state_dict().items() if not k.startswith("aux.")}
        missing = sorted(set(own) - set(self.state))
        unexpected = sorted(set(self.state) - set(own))
        mismatched = [
            f"{k} {tuple(self.state[k].shape)} vs {tuple(v.shape)}"
            for k, v in own.items()
            if k in self.state and self.state[k].shape != v.shape
        ]
        if missing or unexpected or mismatched:
            problems = [f"missing {', '.join(missing)}"] * bool(missing) + [f"unexpected {', '.join(unexpected)}"] * bool(unexpected)
            raise MerautoError(
                f"the checkpoint {self.path} does not fit this pipeline's network: {'; '.join(problems + mismatched)}",
                "fine-tune from the weights exported from a pipeline with the same input, topology, block, fusion, loss and classes",
            )
        model.load_state_dict(self.state, strict=False)


@STRATEGIES.register
class Finetune(Strategy):
    """Every member starts from the run's ``--init-checkpoint`` (weights pre-trained elsewhere)
    instead of a random initialisation, then trains as from scratch. Offered only when the run
    names a checkpoint; a checkpoint trained on the evaluation data's subjects would leak them."""

    name = "finetune"
    description = "start from the run's --init-checkpoint (the weights of a merauto export of the same network), then train"
    initialises = True

    def available(self, context: Any = None) -> bool:
        return context is not None and context.pretrained

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device, teacher_logits: Tensor | None) -> AuxTerm | None:
        return None


# ----------------------------------------------------------------------------- domain-adversarial
def reverse_gradient(x: Tensor, coefficient: float) -> Tensor:
    """Identity forward, gradient times -``coefficient`` backward (Ganin & Lempitsky 2015).
    Written without a custom autograd function, so it runs under ``torch.vmap`` as is."""
    detached = x.detach()
    return detached + coefficient * (detached - x)


def ganin_lambda(progress: float) -> float:
    """The paper's schedule 2 / (1 + exp(-10 p)) - 1, from 0 at the start to ~1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


@STRATEGIES.register
class DomainAdversarial(Strategy):
    """DANN: a source-dataset classifier on the features behind a gradient reversal layer.

    The domain labels are those of the member's own training rows. The test subject's rows
    are never used, not even unlabelled (the unsupervised-target variant of the paper would
    read them): the adversary only makes the features uninformative of the training sources.
    """

    name = "dann"
    description = "domain-adversarial: source classifier behind gradient reversal, lambda_max x the Ganin schedule (composite only)"
    defaults = {"lambda_max": 1.0}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"lambda_max": trial.suggest_float(prefix + "lambda_max", 0.1, 1.0, log=True)}

    def available(self, context: Any = None) -> bool:
        return context is None or context.n_sources > 1

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device, teacher_logits: Tensor | None) -> AuxTerm:
        scale = float(params["lambda_max"])
        sources = torch.from_numpy(targets.sources).to(device)

        def loss(batch: AuxBatch, head: AuxHead) -> Tensor:
            reversed_features = reverse_gradient(batch.features, scale * ganin_lambda(batch.progress))
            return F.cross_entropy(head(reversed_features), sources[batch.rows])

        return AuxTerm(loss, lambda dim: nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, targets.n_sources)))


# ----------------------------------------------------------------------------- distillation
def widen(config: PipelineConfig, factor: int) -> PipelineConfig:
    """``config`` with every integer ``width*`` parameter of its topology times ``factor`` (the
    channels of each stage or branch); vector-stream trunks, fusion and head keep their sizes."""
    params = {k: v * factor if k.startswith("width") and isinstance(v, int) else v for k, v in config.topology.params.items()}
    return replace(config, topology=Choice(config.topology.name, params))


def distillation_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), batch mean (Hinton et al. 2015)."""
    log_student = F.log_softmax(student / temperature, dim=1)
    log_teacher = F.log_softmax(teacher / temperature, dim=1)
    return temperature**2 * F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)


@STRATEGIES.register
class Distill(Strategy):
    """Knowledge distillation: the member's loss plus alpha x the distillation loss from a
    teacher ``width`` times wider, trained from scratch for the member's ``max_epochs`` on the
    member's own training rows. With augmentation, the soft targets are the teacher's logits
    on the un-augmented rows."""

    name = "distill"
    description = "knowledge distillation from a teacher `width` x wider on the same rows: + alpha T^2 KL at temperature T"
    defaults = {"width": 2, "temperature": 4.0, "alpha": 0.5}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            "width": trial.suggest_categorical(prefix + "width", [2, 4]),
            "temperature": trial.suggest_float(prefix + "temperature", 1.0, 8.0, log=True),
            "alpha": trial.suggest_float(prefix + "alpha", 0.1, 1.0),
        }

    def teacher(self, config: PipelineConfig, params: dict[str, Any]) -> PipelineConfig:
        return replace(widen(config, int(params["width"])), strategy=Choice(Scratch.name))

    def term(self, params: dict[str, Any], targets: RowTargets, device: torch.device, teacher_logits: Tensor | None) -> AuxTerm:
        if teacher_logits is None:
            raise ValueError("distillation needs the teachers' logits")
        alpha, temperature = float(params["alpha"]), float(params["temperature"])
        return AuxTerm(lambda batch, _: alpha * distillation_loss(batch.logits, teacher_logits[batch.member][batch.rows], temperature))
