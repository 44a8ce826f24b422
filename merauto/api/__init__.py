"""merauto from Python, for notebooks: what the command line does, through the same functions.

``merauto.search(...)`` runs a search and returns a :class:`Run`; ``merauto.open_run(path)`` opens
one a search wrote. A run gives its trials, leaderboard, estimates, audit and ensembles as pandas
DataFrames and writes its export and report; ``merauto.load_pipeline(export)`` classifies new
clips; ``merauto.evaluate(model_factory)`` scores a network of your own under the same nested
protocol. The package ``merauto`` re-exports these names lazily, so ``import merauto`` stays light.
"""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "search": "searches",
        "Run": "runs",
        "open_run": "runs",
        "Pipeline": "pipelines",
        "load_pipeline": "pipelines",
        "evaluate": "own_models",
    },
)
