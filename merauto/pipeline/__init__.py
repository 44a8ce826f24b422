"""What every layer shares: registries of components with their hyper-parameters, the
plain-data :class:`PipelineConfig` that travels between the space, the evaluator, the results
store and an exported pipeline, and what a search optimises (objectives and cost limits)."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IDENTITY_CHOICES": "config",
        "SLOTS": "config",
        "Choice": "config",
        "PipelineConfig": "config",
        "TrainingConfig": "config",
        "Component": "registry",
        "Registry": "registry",
        "embed": "registry",
        "embedded": "registry",
        "suggest_choice": "registry",
        "suggest_embedded": "registry",
        "CostLimits": "objectives",
        "parse_objectives": "objectives",
    },
)
