"""The define-by-run search space: the product of the registries plus training settings.

An input is sampled first; the preprocessing slots (face, magnification, roi) are sampled
only when one of its streams reads them, and fusion only when it has more than one stream,
so no two configs differ by a step that does nothing.
What a dataset cannot run (landmark inputs and regions without landmarks, an uninstalled
backend, a source-dataset head or domain-adversarial training on a single source, an
action-unit head without AU codes on every clip) is left out by :class:`SpaceContext`,
fixed for a study.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from merauto.data.inputs import INPUTS
from merauto.data.landmarks import index_has_landmarks
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import PREPROCESSING
from merauto.evaluator.augment import AUGMENTS
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.heads import TASKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.optim import OPTIMISERS, SCHEDULES
from merauto.evaluator.strategies import STRATEGIES
from merauto.evaluator.topologies import TOPOLOGIES
from merauto.spec.config import IDENTITY_CHOICES, Choice, PipelineConfig, TrainingConfig
from merauto.spec.registry import suggest_choice

REGISTRIES = {
    "input": INPUTS,
    **PREPROCESSING,
    "topology": TOPOLOGIES,
    "block": BLOCKS,
    "loss": LOSSES,
    "augment": AUGMENTS,
    "fusion": FUSIONS,
    "tasks": TASKS,
    "strategy": STRATEGIES,
}


MAX_EPOCHS = 80  # default upper bound of the sampled maximum number of epochs
LR_RANGES = {"adamw": (1e-4, 1e-2), "sgd": (1e-3, 1e-1)}  # SGD steps are not normalised: larger rates


@dataclass(frozen=True)
class SpaceContext:
    """What the dataset offers that some options need: landmarks, (for a dataset without
    frames) the stream kinds it holds precomputed, its number of source datasets, whether
    every clip is AU-coded, and whether the run names a checkpoint to fine-tune from."""

    landmarks: bool = False
    precomputed: frozenset[str] | None = None
    n_sources: int = 1
    au_labels: bool = False
    pretrained: bool = False

    @classmethod
    def of(cls, index: SampleIndex) -> SpaceContext:
        labels = {"n_sources": len(set(index.sources)), "au_labels": index.action_unit_matrix() is not None}
        if index.precomputed is not None:
            return cls(landmarks=False, precomputed=index.precomputed, **labels)
        return cls(landmarks=index_has_landmarks(index), **labels)


def runnable_inputs(context: SpaceContext | None) -> list[str]:
    """Inputs the dataset can feed (every installed one when ``context`` is ``None``)."""
    return [kind.name for kind in INPUTS if kind.available(context)]


def sample_config(trial: optuna.Trial, context: SpaceContext | None = None, max_epochs: int = MAX_EPOCHS) -> PipelineConfig:
    """Sample one candidate pipeline (``context=None``: every registered, installed option).

    ``max_epochs`` bounds the sampled epoch limit (a budget knob: lower is faster).
    """

    def choose(slot: str) -> Choice:
        component, params = suggest_choice(trial, REGISTRIES[slot], lambda c: c.available(context))
        return Choice(component.name, params)

    if context is not None and context.precomputed is not None:
        # No frames: the files fix how each stream was computed, so neither the input's
        # parameters nor any preprocessing step is sampled.
        name = trial.suggest_categorical("input", runnable_inputs(context))
        choices = {"input": Choice(name, INPUTS.get(name).resolve({}))}
        uses: frozenset[str] = frozenset()
    else:
        choices = {"input": choose("input")}
        uses = INPUTS.get(choices["input"].name).uses(choices["input"].params)
    for slot in PREPROCESSING:
        choices[slot] = choose(slot) if slot in uses else Choice(IDENTITY_CHOICES[slot])
    for slot in ("topology", "block", "loss", "augment"):
        choices[slot] = choose(slot)
    optimiser = trial.suggest_categorical("training.optimiser", list(OPTIMISERS))
    training = TrainingConfig(
        optimiser=optimiser,
        lr=trial.suggest_float("training.lr", *LR_RANGES[optimiser], log=True),
        schedule=trial.suggest_categorical("training.schedule", list(SCHEDULES)),
        weight_decay=trial.suggest_float("training.weight_decay", 1e-6, 1e-2, log=True),
        batch_size=trial.suggest_categorical("training.batch_size", [16, 32, 64]),
        max_epochs=trial.suggest_int("training.max_epochs", min(20, max_epochs), max_epochs, step=10),
        class_weighting=trial.suggest_categorical("training.class_weighting", ["none", "balanced"]),
        dropout=trial.suggest_float("training.dropout", 0.0, 0.5),
    )
    # Slots added later are sampled last, so the earlier parameters of a seeded study stay as they were.
    streams = INPUTS.get(choices["input"].name).stream_params(choices["input"].params)
    choices["fusion"] = choose("fusion") if len(streams) > 1 else Choice(IDENTITY_CHOICES["fusion"])
    choices["tasks"] = choose("tasks")
    choices["strategy"] = choose("strategy")
    return PipelineConfig(**choices, training=training)


def define_by_run(trial: optuna.Trial, context: SpaceContext | None = None, max_epochs: int = MAX_EPOCHS) -> None:
    """Ray Tune's OptunaSearch space: sampling records the flat parameters on ``trial``."""
    sample_config(trial, context, max_epochs)


def resolve(config: PipelineConfig) -> PipelineConfig:
    """``config`` with every component's defaults filled in (what the trial actually runs)."""
    resolved = {
        slot: Choice(getattr(config, slot).name, REGISTRIES[slot].get(getattr(config, slot).name).resolve(getattr(config, slot).params))
        for slot in REGISTRIES
    }
    return PipelineConfig(**resolved, training=config.training)
