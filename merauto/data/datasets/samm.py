"""SAMM (licensed): clips found under ``--data-root``, labelled from its coding sheet."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, licensed_config, register
from merauto.data.labels import ALL_LABELS, EVERY_LABEL, ClassScheme, identity
from merauto.data.locations import locate
from merauto.data.sources.coded import read_coded
from merauto.data.sources.composite import MAPPINGS


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """The coded clips, their labels mapped by ``--classes``."""
    location = locate("samm", request.data_root, licensed_config(request))
    return read_coded("samm", location, SAMM.class_schemes[request.classes or SAMM.default_scheme], request.label())


SAMM = register(
    Dataset(
        "samm",
        "SAMM (licensed; --data-root); --classes 5, 3 or all",
        read,
        {
            "5": ClassScheme(
                "anger, contempt, happiness, surprise, other (disgust, fear and sadness dropped)",
                identity("anger", "contempt", "happiness", "surprise", "other"),
            ),
            "3": MAPPINGS["samm"],
            ALL_LABELS: EVERY_LABEL,
        },
        ("samm",),
    )
)
