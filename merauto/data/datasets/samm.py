"""SAMM (licensed): clips found under ``--data-root``, labelled from its coding sheet."""

from __future__ import annotations

from merauto.data.datasets.coded import coded_dataset
from merauto.data.datasets.core import register
from merauto.data.labels import ALL_LABELS, EVERY_LABEL, ClassScheme, identity
from merauto.data.sources.composite import MAPPINGS

SAMM = register(
    coded_dataset(
        "samm",
        "SAMM (licensed; --data-root); --classes 5, 3 or all",
        {
            "5": ClassScheme(
                "anger, contempt, happiness, surprise, other (disgust, fear and sadness dropped)",
                identity("anger", "contempt", "happiness", "surprise", "other"),
            ),
            "3": MAPPINGS["samm"],
            ALL_LABELS: EVERY_LABEL,
        },
    )
)
