"""A licensed dataset read from its frames and coding sheet (CASME II, SAMM, CASME): its reader,
the labels mapped by the class scheme ``--classes`` names."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, licensed_config
from merauto.data.labels import ClassScheme
from merauto.data.locations import locate
from merauto.data.sources.coded import read_coded


def coded_dataset(name: str, description: str, class_schemes: dict[str, ClassScheme]) -> Dataset:
    """The dataset ``name`` (a source of :data:`~merauto.data.sources.coded.CODED`), found under ``--data-root``."""

    def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
        location = locate(name, request.data_root, licensed_config(request))
        return read_coded(name, location, class_schemes[request.classes or next(iter(class_schemes))], request.label())

    return Dataset(name, description, read, class_schemes, (name,))
