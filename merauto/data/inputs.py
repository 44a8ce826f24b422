"""Input modalities: the streams a model sees, each built per sample and cached by content.

A *stream* is one array per sample (e.g. the onset->apex flow+strain map). An *input* is a
searchable choice that names one or more streams (a two-stream model gets two).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import optuna

from merauto.data.apex import spot_apex
from merauto.data.flow import FLOW_METHODS, flow_strain_map
from merauto.data.frames import read_grey
from merauto.data.sample_index import Sample
from merauto.search_space.registry import Component, Registry


@dataclass(frozen=True)
class StreamSpec:
    """A stream kind and its preprocessing parameters: together with a sample, a cache key."""

    kind: str
    params: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, kind: str, **params: Any) -> StreamSpec:
        return cls(kind, tuple(sorted(params.items())))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.params)


class ClipFrames:
    """Lazily read grey frames of one sample, with the apex resolved once."""

    def __init__(self, sample: Sample, apex_lookup: Callable[[Sample, ClipFrames], int]) -> None:
        self.sample = sample
        self._frames: dict[int, np.ndarray] = {}
        self._apex_lookup = apex_lookup
        self._apex: int | None = None

    def frame(self, position: int) -> np.ndarray:
        if position not in self._frames:
            self._frames[position] = read_grey(self.sample.frames[position])
        return self._frames[position]

    def all_frames(self) -> list[np.ndarray]:
        return [self.frame(i) for i in range(len(self.sample.frames))]

    @property
    def apex(self) -> int:
        """The annotated apex, else the spotted one."""
        if self.sample.apex is not None:
            return self.sample.apex
        if self._apex is None:
            self._apex = self._apex_lookup(self.sample, self)
        return self._apex


def estimate_apex(clip: ClipFrames) -> int:
    """Spot the apex of a clip from its frames (see :func:`merauto.data.apex.spot_apex`)."""
    return spot_apex(clip.all_frames(), clip.sample.onset, clip.sample.offset)


# Stream builders: kind -> (version, function(clip, **params) -> array (C, H, W) float32).
# Bump a version whenever its function's output changes, so old cache entries are not reused.
StreamBuilder = Callable[..., np.ndarray]
STREAM_BUILDERS: dict[str, tuple[str, StreamBuilder]] = {}


def stream_builder(kind: str, version: str) -> Callable[[StreamBuilder], StreamBuilder]:
    def register(function: StreamBuilder) -> StreamBuilder:
        STREAM_BUILDERS[kind] = (version, function)
        return function

    return register


@stream_builder("flow_strain", version="1")
def build_flow_strain(clip: ClipFrames, size: int, method: str) -> np.ndarray:
    """Onset->apex optical flow (u, v) and optical strain, resized to ``size``."""
    return flow_strain_map(clip.frame(clip.sample.onset), clip.frame(clip.apex), size, method)


@stream_builder("apex_frame", version="1")
def build_apex_frame(clip: ClipFrames, size: int) -> np.ndarray:
    """The grey apex frame resized to ``size``, scaled to 0..1."""
    image = cv2.resize(clip.frame(clip.apex), (size, size), interpolation=cv2.INTER_AREA)
    return (image / 255.0).astype(np.float32)[None]


class InputKind(Component):
    """A searchable input: maps its hyper-parameters to named streams."""

    defaults = {"size": 28}

    @abstractmethod
    def streams(self, params: dict[str, Any]) -> dict[str, StreamSpec]:
        """The named streams this input feeds the model."""


INPUTS: Registry[InputKind] = Registry("input")


def _flow(params: dict[str, Any]) -> StreamSpec:
    return StreamSpec.of("flow_strain", size=int(params["size"]), method=params["flow_method"])


def _apex(params: dict[str, Any]) -> StreamSpec:
    return StreamSpec.of("apex_frame", size=int(params["size"]))


@INPUTS.register
class FlowStrainInput(InputKind):
    name = "flow_strain"
    description = "onset->apex optical flow (u, v) + optical strain, 3 channels (STSTNet-style)"
    defaults = {"size": 28, "flow_method": "farneback"}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"flow_method": trial.suggest_categorical(prefix + "flow_method", list(FLOW_METHODS))}

    def streams(self, params: dict[str, Any]) -> dict[str, StreamSpec]:
        return {"flow": _flow(params)}


@INPUTS.register
class ApexInput(InputKind):
    name = "apex"
    description = "the grey apex frame"

    def streams(self, params: dict[str, Any]) -> dict[str, StreamSpec]:
        return {"apex": _apex(params)}


@INPUTS.register
class FlowApexInput(InputKind):
    name = "flow_apex"
    description = "two streams: flow + strain, and the apex frame"
    defaults = {"size": 28, "flow_method": "farneback"}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"flow_method": trial.suggest_categorical(prefix + "flow_method", list(FLOW_METHODS))}

    def streams(self, params: dict[str, Any]) -> dict[str, StreamSpec]:
        return {"flow": _flow(params), "apex": _apex(params)}
