"""merauto: AutoML for facial micro-expression recognition with honest, nested LOSO evaluation.

From Python: ``merauto.search(...)`` runs a search and returns a run, ``merauto.open_run(path)``
opens one, ``merauto.load_pipeline(export)`` classifies new clips, ``merauto.evaluate(model_factory)``
scores a network of your own under the same nested protocol (:mod:`merauto.api`). They are
imported on first use, so ``import merauto`` (and ``merauto --help``) loads no torch, Ray,
Optuna or pandas.
"""

import os

from merauto._exports import lazy_exports

__version__ = "0.1.0"

# onnxruntime's telemetry (on by default in onnxruntime 1.32 on Linux) writes a device id and an event store under
# ~/.cache/Microsoft/DeveloperTools (or $XDG_CACHE_HOME) as soon as onnxruntime is imported: turned off here, before
# any merauto module can import it, so that merauto writes nothing to the home folder (ORT_DISABLE_TELEMETRY=0: on).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

API = ("search", "open_run", "Run", "load_pipeline", "Pipeline", "evaluate")  # merauto.api's names, imported on first use
__all__, __getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(API, "api"))
