"""CASME (licensed): clips found under ``--data-root``, every raw label of its coding sheet a class."""

from __future__ import annotations

from merauto.data.datasets.coded import coded_dataset
from merauto.data.datasets.core import register
from merauto.data.labels import ALL_LABELS, EVERY_LABEL

CASME = register(coded_dataset("casme", "CASME (licensed; --data-root); --classes all", {ALL_LABELS: EVERY_LABEL}))
