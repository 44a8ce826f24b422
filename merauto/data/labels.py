"""Class schemes: how a dataset's raw emotion labels become the classes a search predicts."""

from __future__ import annotations

from dataclasses import dataclass, field

from merauto.data.sample_index import COMPOSITE_CLASSES

ALL_LABELS = "all"  # scheme keeping every raw label found as its own class


@dataclass(frozen=True)
class ClassScheme:
    """Raw label (lower case) -> class; raw labels not in ``mapping`` are dropped.

    An empty mapping keeps every raw label as a class (the ``all`` scheme).
    """

    description: str
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def keeps_all(self) -> bool:
        return not self.mapping

    def classes(self, raw_labels: set[str]) -> tuple[str, ...]:
        """The class list, sorted: fixed by the mapping, else the raw labels found."""
        return tuple(sorted(set(self.mapping.values()) if self.mapping else raw_labels))

    def map(self, raw_label: str) -> str | None:
        """The class of ``raw_label``, or ``None`` when this scheme drops it."""
        raw = raw_label.strip().lower()
        if self.keeps_all:
            return raw or None
        return self.mapping.get(raw)


def _identity(*labels: str) -> dict[str, str]:
    return {label: label for label in labels}


NEGATIVE, POSITIVE, SURPRISE = COMPOSITE_CLASSES

# dataset -> scheme name -> scheme; the first scheme of a dataset is its default.
CLASS_SCHEMES: dict[str, dict[str, ClassScheme]] = {
    "composite": {"3": ClassScheme("negative, positive, surprise (MEGC2019)", _identity(*COMPOSITE_CLASSES))},
    "casme2": {
        "5": ClassScheme(
            "happiness, disgust, repression, surprise, others (fear and sadness dropped)",
            _identity("happiness", "disgust", "repression", "surprise", "others"),
        ),
        "3": ClassScheme(
            "the composite's mapping: happiness->positive; disgust, repression->negative; surprise",
            {"happiness": POSITIVE, "disgust": NEGATIVE, "repression": NEGATIVE, "surprise": SURPRISE},
        ),
        ALL_LABELS: ClassScheme("every raw emotion label of the coding sheet"),
    },
    "samm": {
        "5": ClassScheme(
            "anger, contempt, happiness, surprise, other (disgust, fear and sadness dropped)",
            _identity("anger", "contempt", "happiness", "surprise", "other"),
        ),
        "3": ClassScheme(
            "the composite's mapping: happiness->positive; anger, contempt, disgust, fear, sadness->negative; surprise",
            {
                "happiness": POSITIVE,
                **{label: NEGATIVE for label in ("anger", "contempt", "disgust", "fear", "sadness")},
                "surprise": SURPRISE,
            },
        ),
        ALL_LABELS: ClassScheme("every raw emotion label of the coding sheet"),
    },
    "smic": {"3": ClassScheme("negative, positive, surprise (the folder names)", _identity(*COMPOSITE_CLASSES))},
    "casme": {ALL_LABELS: ClassScheme("every raw emotion label of the coding sheet")},
}


def default_scheme(dataset: str) -> str:
    """The scheme a dataset uses when ``--classes`` is not given."""
    return next(iter(CLASS_SCHEMES[dataset]))
