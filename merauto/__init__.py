"""merauto: AutoML for facial micro-expression recognition with honest, nested LOSO evaluation."""

import os

__version__ = "0.1.0"

# onnxruntime's telemetry (on by default in onnxruntime 1.32 on Linux) writes a device id and an event store under
# ~/.cache/Microsoft/DeveloperTools (or $XDG_CACHE_HOME) as soon as onnxruntime is imported: turned off here, before
# any merauto module can import it, so that merauto writes nothing to the home folder (ORT_DISABLE_TELEMETRY=0: on).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
