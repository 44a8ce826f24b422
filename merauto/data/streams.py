"""Streams: one array per sample that a model reads, described by a :class:`StreamSpec`.

A spec names a builder (``kind``), its parameters and the preprocessing steps upstream of it
(face registration, magnification, regions of interest): with the sample's content, the cache
key. A builder computes a map at working resolution from a :class:`PreparedClip`; image maps
then go through the region choice, which cuts and resizes them to the output ``size``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from merauto.data.clip import NO_STEP, ClipFrames, PreparedClip, RegistrationLookup, Step, WindowLookup
from merauto.data.preprocessing.face import FACES
from merauto.data.preprocessing.magnify import MAGNIFICATIONS
from merauto.data.preprocessing.regions import REGIONS
from merauto.pipeline.registry import Registry

# The preprocessing slots, in the order they act, with their registries.
PREPROCESSING: dict[str, Registry[Any]] = {"face": FACES, "magnification": MAGNIFICATIONS, "roi": REGIONS}
IMAGE_STEPS = frozenset(PREPROCESSING)


@dataclass(frozen=True)
class StreamLayout:
    """What a stream's values mean, for regions and augmentation.

    ``roles`` names the channels of one frame (``grey``, ``u``, ``v``, ``strain``,
    ``magnitude``, ``orientation``, ``dynamic``); image streams hold ``frames`` such frames
    stacked as channels (frame-major), repeated for each region. ``reference``: frame 0 is
    the one later frames move from (sequences, key frames); ``evenly_spaced``: the frames
    sample time uniformly (sequences). ``vector``: a (D,) feature vector; ``landmark_graph``: one
    laid out by :func:`merauto.data.preprocessing.landmarks.graph_features`.
    """

    roles: tuple[str, ...] = ()
    frames: int = 1
    reference: bool = False
    evenly_spaced: bool = False
    vector: bool = False
    landmark_graph: bool = False

    def frame_roles(self) -> tuple[str, ...]:
        """Roles of the channels of one region: ``roles`` repeated for every frame."""
        return self.roles * self.frames


class StreamBuilderEntry(NamedTuple):
    """A registered builder: ``(version, build)`` first, as before layouts and steps existed."""

    version: str
    build: Callable[..., np.ndarray]
    layout: Callable[[dict[str, Any]], StreamLayout] | None = None
    uses: frozenset[str] = frozenset()
    landmarks: bool = False  # reads the clip's landmarks


# kind -> entry. Bump a version whenever its function's output changes, so old cache entries are not reused.
# A builder without a layout is opaque: it gets all its parameters and its output is used as is.
STREAM_BUILDERS: dict[str, StreamBuilderEntry] = {}


def stream_builder(
    kind: str,
    version: str,
    layout: Callable[[dict[str, Any]], StreamLayout] | None = None,
    uses: frozenset[str] = frozenset(),
    landmarks: bool = False,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register a builder; ``uses`` names the preprocessing slots that act on its input, ``landmarks`` says it reads them."""

    def register(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        STREAM_BUILDERS[kind] = StreamBuilderEntry(version, function, layout, frozenset(uses), landmarks)
        return function

    return register


Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class StreamSpec:
    """A stream kind, its parameters and its upstream steps: together with a sample, a cache key."""

    kind: str
    params: Params
    upstream: tuple[tuple[str, str, Params], ...] = ()

    @classmethod
    def of(cls, kind: str, upstream: Mapping[str, Step] | None = None, **params: Any) -> StreamSpec:
        """The spec of ``kind``; of ``upstream`` only the steps the kind uses are kept, resolved and non-trivial."""
        uses = STREAM_BUILDERS[kind].uses if kind in STREAM_BUILDERS else frozenset()
        steps = []
        for slot, registry in PREPROCESSING.items():
            name, step_params = (upstream or {}).get(slot, NO_STEP)
            if slot in uses and name not in ("none", "whole"):
                steps.append((slot, name, tuple(sorted(registry.get(name).resolve(step_params).items()))))
        return cls(kind, tuple(sorted(params.items())), tuple(steps))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def step(self, slot: str) -> Step:
        """The component and parameters of preprocessing ``slot`` (``none``/``whole`` when absent)."""
        for name_slot, name, params in self.upstream:
            if name_slot == slot:
                return name, dict(params)
        return ("whole", {}) if slot == "roi" else NO_STEP

    def versions(self) -> dict[str, str]:
        """The code versions this stream depends on: its builder's and each upstream step's."""
        versions = {self.kind: STREAM_BUILDERS[self.kind].version}
        versions.update({f"{slot}.{name}": PREPROCESSING[slot].get(name).version for slot, name, _ in self.upstream})
        return versions

    def key_parts(self) -> tuple[Any, ...]:
        """Everything but the sample that the cached array depends on."""
        upstream = [[slot, name, dict(params)] for slot, name, params in self.upstream]
        return (self.kind, self.versions(), self.as_dict(), upstream)

    def reads_landmarks(self) -> bool:
        """Whether building this stream reads landmarks (its builder or its region choice)."""
        return STREAM_BUILDERS[self.kind].landmarks or REGIONS.get(self.step("roi")[0]).needs_landmarks

    def layout(self) -> StreamLayout | None:
        entry = STREAM_BUILDERS[self.kind]
        return None if entry.layout is None else entry.layout(self.as_dict())

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.as_dict(), "upstream": {slot: [name, dict(p)] for slot, name, p in self.upstream}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamSpec:
        upstream = {slot: (name, params) for slot, (name, params) in data.get("upstream", {}).items()}
        return cls.of(data["kind"], upstream, **data["params"])

    def __str__(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.params)
        steps = "".join(f" <- {name}({','.join(f'{k}={v}' for k, v in params)})" for _, name, params in self.upstream)
        return f"{self.kind}({inner}){steps}"


def build_stream(
    spec: StreamSpec, clip: ClipFrames, registration: RegistrationLookup | None = None, window: WindowLookup | None = None
) -> np.ndarray:
    """The array of ``spec`` for one clip: preprocessing, the builder, then regions and resizing.

    ``registration`` and ``window`` supply cached intermediate results (see :class:`~merauto.data.clip.PreparedClip`).
    """
    entry = STREAM_BUILDERS[spec.kind]
    params = spec.as_dict()
    if entry.layout is None:
        return entry.build(clip, **params)
    layout = entry.layout(params)
    prepared = PreparedClip(clip, spec.step("face"), spec.step("magnification"), registration, window)
    size = params.pop("size", None)
    raw = entry.build(prepared, **params)
    if layout.vector:
        return np.ascontiguousarray(raw, np.float32)
    name, roi_params = spec.step("roi")
    out = REGIONS.get(name).apply(raw, layout.frame_roles(), prepared.geometry(), int(size), roi_params)
    return np.ascontiguousarray(out, np.float32)
