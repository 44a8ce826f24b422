"""The search space as the product of the registries (define-by-run), the literature presets,
and the space described for people (``merauto space``)."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MAX_EPOCHS": "space",
        "REGISTRIES": "space",
        "SpaceContext": "space",
        "define_by_run": "space",
        "resolve": "space",
        "PRESETS": "presets",
        "sample_configs": "describe",
        "space_tree": "describe",
    },
)
