"""Optuna study and storage, Ray Tune execution, budget, resume and progress; writes into results."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SearchOptions": "options",
        "validate": "options",
        "SearchSummary": "search",
        "run_search": "search",
        "run_prepare": "prepare",
    },
)
