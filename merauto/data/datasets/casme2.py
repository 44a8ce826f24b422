"""CASME II (licensed): clips found under ``--data-root``, labelled from its coding sheet."""

from __future__ import annotations

from merauto.data.datasets.coded import coded_dataset
from merauto.data.datasets.core import register
from merauto.data.labels import ALL_LABELS, EVERY_LABEL, ClassScheme, identity
from merauto.data.sources.composite import MAPPINGS

CASME2 = register(
    coded_dataset(
        "casme2",
        "CASME II (licensed; --data-root); --classes 5, 3 or all",
        {
            "5": ClassScheme(
                "happiness, disgust, repression, surprise, others (fear and sadness dropped)",
                identity("happiness", "disgust", "repression", "surprise", "others"),
            ),
            "3": MAPPINGS["casme2"],
            ALL_LABELS: EVERY_LABEL,
        },
    )
)
