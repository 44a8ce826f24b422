"""Class schemes: how a dataset's raw emotion labels become the classes a search predicts (each
dataset's module in :mod:`merauto.data.datasets` declares its own)."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def identity(*labels: str) -> dict[str, str]:
    """A mapping that keeps each of ``labels`` as its own class."""
    return {label: label for label in labels}


EVERY_LABEL = ClassScheme("every raw emotion label of the coding sheet")  # the `all` scheme of a coded dataset
