"""The MEGC2019 composite of SMIC-HS, CASME II and SAMM (442 clips, 68 subjects, 3 classes), from the
user's copies of the three or from STSTNet's precomputed flow+strain PNGs (``--features``)."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, licensed_config, register
from merauto.data.sources.composite import SCHEME, SOURCES, read_composite
from merauto.data.sources.ststnet import read_ststnet


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """The composite's clips (those of ``--sources``), from the frames or from ``--features``."""
    if request.features is not None:
        return read_ststnet(Path(request.features), request.label(), request.sources)
    return read_composite(request.data_root, licensed_config(request), request.label(), request.sources)


COMPOSITE = register(
    Dataset(
        "composite",
        "MEGC2019 composite of SMIC-HS, CASME II and SAMM: 442 clips, 68 subjects, 3 classes "
        "(licensed data: --data-root, or --features DIR for STSTNet's precomputed flow)",
        read,
        {"3": SCHEME},
        SOURCES,
    )
)
