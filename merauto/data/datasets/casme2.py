"""CASME II (licensed): clips found under ``--data-root``, labelled from its coding sheet."""

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
    location = locate("casme2", request.data_root, licensed_config(request))
    return read_coded("casme2", location, CASME2.class_schemes[request.classes or CASME2.default_scheme], request.label())


CASME2 = register(
    Dataset(
        "casme2",
        "CASME II (licensed; --data-root); --classes 5, 3 or all",
        read,
        {
            "5": ClassScheme(
                "happiness, disgust, repression, surprise, others (fear and sadness dropped)",
                identity("happiness", "disgust", "repression", "surprise", "others"),
            ),
            "3": MAPPINGS["casme2"],
            ALL_LABELS: EVERY_LABEL,
        },
        ("casme2",),
    )
)
