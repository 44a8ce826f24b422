"""What every layer shares: registries of components with their hyper-parameters, and the
plain-data :class:`PipelineConfig` that travels between the space, the evaluator, the results
store and an exported pipeline."""

from __future__ import annotations

from merauto.spec.config import IDENTITY_CHOICES, SLOTS, Choice, PipelineConfig, TrainingConfig
from merauto.spec.registry import Component, Registry, embed, embedded, suggest_choice, suggest_embedded

__all__ = [
    "IDENTITY_CHOICES",
    "SLOTS",
    "Choice",
    "Component",
    "PipelineConfig",
    "Registry",
    "TrainingConfig",
    "embed",
    "embedded",
    "suggest_choice",
    "suggest_embedded",
]
