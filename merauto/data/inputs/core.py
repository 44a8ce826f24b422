"""Input modalities: the streams a model sees, each built per sample and cached by content.

A *stream* is one array per sample (e.g. the onset->apex flow+strain map), computed by a
registered stream builder (:func:`merauto.data.streams.stream_builder`). An *input* is a
searchable choice that names one or more streams (a multi-stream model gets one trunk per
stream). Preprocessing choices (face, magnification, regions) are upstream steps of each
stream that reads frames, and part of its cache key.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from merauto.data.clip import Step
from merauto.data.streams import PREPROCESSING, STREAM_BUILDERS, StreamLayout, StreamSpec
from merauto.pipeline.config import PipelineConfig
from merauto.pipeline.registry import Component, Registry

StreamParams = dict[str, tuple[str, dict[str, Any]]]  # stream name -> (builder kind, builder parameters)


class InputKind(Component):
    """A searchable input: maps its hyper-parameters to named streams."""

    defaults: dict[str, Any] = {"size": 28}
    needs_landmarks = False

    def available(self, context: Any = None) -> bool:
        if context is None:
            return True
        precomputed = getattr(context, "precomputed", None)
        if precomputed is not None:  # a dataset without frames feeds only the streams it holds
            return {spec.kind for spec in self.streams(self.resolve({})).values()} <= precomputed
        return not self.needs_landmarks or bool(getattr(context, "landmarks", False))

    @abstractmethod
    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        """Stream name -> (builder kind, builder parameters)."""

    def streams(self, params: dict[str, Any], upstream: Mapping[str, Step] | None = None) -> dict[str, StreamSpec]:
        """The named streams this input feeds the model, with ``upstream`` preprocessing where it applies."""
        return {name: StreamSpec.of(kind, upstream, **p) for name, (kind, p) in self.stream_params(params).items()}

    def layouts(self, params: dict[str, Any]) -> list[StreamLayout]:
        """What the values of each of this input's streams mean (opaque streams left out)."""
        return [layout for spec in self.streams(params).values() if (layout := spec.layout()) is not None]

    def uses(self, params: dict[str, Any]) -> frozenset[str]:
        """The preprocessing slots that act on any of this input's streams."""
        return frozenset(slot for spec in self.streams(params).values() for slot in STREAM_BUILDERS[spec.kind].uses)


INPUTS: Registry[InputKind] = Registry("input")


def upstream_of(config: PipelineConfig) -> dict[str, Step]:
    """The preprocessing steps of a pipeline config (its face, magnification and roi choices)."""
    return {slot: (getattr(config, slot).name, getattr(config, slot).params) for slot in PREPROCESSING}


def pipeline_streams(config: PipelineConfig) -> dict[str, StreamSpec]:
    """The streams of a pipeline config: its input's streams with its preprocessing upstream."""
    kind, params = INPUTS.resolved(config.input)
    return kind.streams(params, upstream_of(config))


def stream_layouts(config: PipelineConfig) -> dict[str, StreamLayout | None]:
    """Stream name -> what its values mean (``None`` for opaque streams)."""
    return {name: spec.layout() for name, spec in pipeline_streams(config).items()}
