"""The define-by-run search space: the product of the registries plus training settings."""

from __future__ import annotations

import optuna

from merauto.data.inputs import INPUTS
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.topologies import TOPOLOGIES
from merauto.search_space.config import Choice, PipelineConfig, TrainingConfig
from merauto.search_space.registry import suggest_choice

REGISTRIES = {"input": INPUTS, "topology": TOPOLOGIES, "block": BLOCKS, "loss": LOSSES}


MAX_EPOCHS = 80  # default upper bound of the sampled maximum number of epochs


def sample_config(trial: optuna.Trial, max_epochs: int = MAX_EPOCHS) -> PipelineConfig:
    """Sample one candidate pipeline; every parameter name is the config's flat key.

    ``max_epochs`` bounds the sampled epoch limit (a budget knob: lower is faster).
    """
    choices = {}
    for slot, registry in REGISTRIES.items():
        component, params = suggest_choice(trial, registry)
        choices[slot] = Choice(component.name, params)
    training = TrainingConfig(
        lr=trial.suggest_float("training.lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("training.weight_decay", 1e-6, 1e-2, log=True),
        batch_size=trial.suggest_categorical("training.batch_size", [16, 32, 64]),
        max_epochs=trial.suggest_int("training.max_epochs", min(20, max_epochs), max_epochs, step=10),
        class_weighting=trial.suggest_categorical("training.class_weighting", ["none", "balanced"]),
        dropout=trial.suggest_float("training.dropout", 0.0, 0.5),
    )
    return PipelineConfig(**choices, training=training)


def define_by_run(trial: optuna.Trial, max_epochs: int = MAX_EPOCHS) -> None:
    """Ray Tune's OptunaSearch space: sampling records the flat parameters on ``trial``."""
    sample_config(trial, max_epochs)


def resolve(config: PipelineConfig) -> PipelineConfig:
    """``config`` with every component's defaults filled in (what the trial actually runs)."""
    resolved = {
        slot: Choice(getattr(config, slot).name, REGISTRIES[slot].get(getattr(config, slot).name).resolve(getattr(config, slot).params))
        for slot in REGISTRIES
    }
    return PipelineConfig(**resolved, training=config.training)
