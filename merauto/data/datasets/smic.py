"""SMIC-HS (licensed): clips found under ``--data-root``, labelled by their folders; apex estimated."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, licensed_config, register
from merauto.data.locations import locate
from merauto.data.sources.composite import MAPPINGS
from merauto.data.sources.smic import read_smic


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """Every micro-expression clip under ``HS``."""
    return read_smic(locate("smic", request.data_root, licensed_config(request)), MAPPINGS["smic"], request.label())


SMIC = register(Dataset("smic", "SMIC-HS (licensed; --data-root); 3 classes, apex estimated", read, {"3": MAPPINGS["smic"]}, ("smic",)))
