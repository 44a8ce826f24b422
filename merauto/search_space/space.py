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


def runnable_inputs(precomputed: frozenset[str] | None) -> list[str]:
    """Inputs a dataset can feed: every input when it has frames (``precomputed`` is ``None``),
    else those whose streams it holds precomputed."""
    return [
        kind.name
        for kind in INPUTS
        if precomputed is None or {spec.kind for spec in kind.streams(kind.resolve({})).values()} <= precomputed
    ]


def sample_config(trial: optuna.Trial, precomputed: frozenset[str] | None = None) -> PipelineConfig:
    """Sample one candidate pipeline; every parameter name is the config's flat key.

    On a dataset without frames (``precomputed``: the stream kinds it holds), only inputs made
    of those streams are offered, and their hyper-parameters (how a stream is computed from
    frames) are not sampled: the files fix them.
    """
    choices = {}
    for slot, registry in REGISTRIES.items():
        if slot == "input" and precomputed is not None:
            name = trial.suggest_categorical("input", runnable_inputs(precomputed))
            choices[slot] = Choice(name, INPUTS.get(name).resolve({}))
            continue
        component, params = suggest_choice(trial, registry)
        choices[slot] = Choice(component.name, params)
    training = TrainingConfig(
        lr=trial.suggest_float("training.lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("training.weight_decay", 1e-6, 1e-2, log=True),
        batch_size=trial.suggest_categorical("training.batch_size", [16, 32, 64]),
        max_epochs=trial.suggest_int("training.max_epochs", 20, 80, step=10),
        class_weighting=trial.suggest_categorical("training.class_weighting", ["none", "balanced"]),
        dropout=trial.suggest_float("training.dropout", 0.0, 0.5),
    )
    return PipelineConfig(**choices, training=training)


def define_by_run(trial: optuna.Trial, precomputed: frozenset[str] | None = None) -> None:
    """Ray Tune's OptunaSearch space: sampling records the flat parameters on ``trial``."""
    sample_config(trial, precomputed)


def resolve(config: PipelineConfig) -> PipelineConfig:
    """``config`` with every component's defaults filled in (what the trial actually runs)."""
    resolved = {
        slot: Choice(getattr(config, slot).name, REGISTRIES[slot].get(getattr(config, slot).name).resolve(getattr(config, slot).params))
        for slot in REGISTRIES
    }
    return PipelineConfig(**resolved, training=config.training)
