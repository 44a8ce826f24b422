"""The sample index: one row per clip, the common currency of every dataset adapter."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COMPOSITE_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")


@dataclass(frozen=True)
class Sample:
    """One clip. ``onset``/``apex``/``offset`` are positions in ``frames`` (0-based).

    ``apex`` is ``None`` when the dataset does not annotate it; inputs then estimate it.
    ``precomputed`` maps stream kinds to files holding that stream ready-made (e.g. the
    STSTNet flow+strain PNG); a sample read from such files has no frames, and its
    onset/offset are 0.
    """

    id: str
    dataset: str
    subject: str
    label: str
    frames: tuple[Path, ...]
    onset: int
    apex: int | None
    offset: int
    fps: float
    raw_label: str = ""
    action_units: str = ""
    frame_numbers: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    precomputed: Mapping[str, Path] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.frames and self.precomputed:
            if (self.onset, self.apex, self.offset) != (0, None, 0):
                raise ValueError(f"sample {self.id}: a sample without frames has no onset/apex/offset")
            return
        n = len(self.frames)
        if n < 2:
            raise ValueError(f"sample {self.id}: a clip needs at least 2 frames, found {n}")
        if not 0 <= self.onset < self.offset < n:
            raise ValueError(f"sample {self.id}: onset {self.onset} / offset {self.offset} outside 0..{n - 1}")
        if self.apex is not None and not self.onset <= self.apex <= self.offset:
            raise ValueError(f"sample {self.id}: apex {self.apex} outside onset..offset {self.onset}..{self.offset}")


@dataclass(frozen=True)
class SampleIndex:
    """An ordered, immutable collection of samples with a fixed class list."""

    name: str
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    description: str = ""
    _positions: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted({s.label for s in self.samples} - set(self.classes))
        if unknown:
            raise ValueError(f"{self.name}: labels {unknown} are not among classes {self.classes}")
        if len({bool(s.frames) for s in self.samples}) > 1:
            raise ValueError(f"{self.name}: some samples have frames and some only precomputed streams")
        for i, sample in enumerate(self.samples):
            if sample.id in self._positions:
                raise ValueError(f"{self.name}: duplicate sample id {sample.id!r}")
            self._positions[sample.id] = i

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def position(self, sample_id: str) -> int:
        """Row of ``sample_id`` in this index."""
        return self._positions[sample_id]

    @property
    def ids(self) -> np.ndarray:
        return np.array([s.id for s in self.samples])

    @property
    def labels(self) -> np.ndarray:
        """Integer labels (positions in ``classes``)."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[s.label] for s in self.samples], dtype=np.int64)

    @property
    def subjects(self) -> np.ndarray:
        return np.array([s.subject for s in self.samples])

    @property
    def sources(self) -> np.ndarray:
        return np.array([s.dataset for s in self.samples])

    @property
    def precomputed(self) -> frozenset[str] | None:
        """Stream kinds every sample holds precomputed when samples have no frames; ``None``
        when samples have frames (then every stream can be built)."""
        if not self.samples or self.samples[0].frames:
            return None
        return frozenset.intersection(*(frozenset(s.precomputed) for s in self.samples))

    def action_unit_matrix(self) -> np.ndarray | None:
        """(n, k) float32 multi-hot of the action units coded for each clip, by AU number
        (laterality, intensity and other marks dropped; columns in increasing AU number);
        ``None`` unless every clip is AU-coded."""
        coded = [{int(n) for n in re.findall(r"\d+", s.action_units)} for s in self.samples]
        if not coded or not all(coded):
            return None
        units = sorted(set().union(*coded))
        matrix = np.zeros((len(coded), len(units)), np.float32)
        for i, numbers in enumerate(coded):
            matrix[i, [units.index(n) for n in numbers]] = 1.0
        return matrix

    def subset(self, positions: np.ndarray | list[int]) -> SampleIndex:
        """A new index holding the samples at ``positions``, in that order."""
        return SampleIndex(self.name, self.classes, tuple(self.samples[i] for i in positions), self.description)

    def summary(self) -> dict[str, object]:
        """Counts a person checks first: samples, subjects and classes, overall and per source."""
        per_source: dict[str, dict[str, object]] = {}
        for source in sorted({s.dataset for s in self.samples}):
            rows = [s for s in self.samples if s.dataset == source]
            per_source[source] = {
                "samples": len(rows),
                "subjects": len({s.subject for s in rows}),
                "classes": {c: n for c, n in sorted(Counter(s.label for s in rows).items())},
            }
        return {
            "samples": len(self.samples),
            "subjects": len(set(self.subjects)),
            "classes": {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)},
            "sources": per_source,
        }
