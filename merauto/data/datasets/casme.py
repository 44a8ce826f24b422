"""CASME (licensed): clips found under ``--data-root``, every raw label of its coding sheet a class."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, licensed_config, register
from merauto.data.labels import ALL_LABELS, EVERY_LABEL
from merauto.data.locations import locate
from merauto.data.sources.coded import read_coded


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """The coded clips, each raw label its own class."""
    return read_coded("casme", locate("casme", request.data_root, licensed_config(request)), EVERY_LABEL, request.label())


CASME = register(Dataset("casme", "CASME (licensed; --data-root); --classes all", read, {ALL_LABELS: EVERY_LABEL}, ("casme",)))
