"""Input modalities: the streams a model sees, each built per sample and cached by content.

A *stream* is one array per sample (e.g. the onset->apex flow+strain map). An *input* is a
searchable choice that names one or more streams (a multi-stream model gets one trunk per
stream). Preprocessing choices (face, magnification, regions) are upstream steps of each
stream that reads frames, and part of its cache key.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import optuna

from merauto.data import stream_builders  # noqa: F401 - registers the builders
from merauto.data.clip import ClipFrames, Step, estimate_apex
from merauto.data.flow import FLOW_METHODS
from merauto.data.streams import PREPROCESSING, STREAM_BUILDERS, StreamLayout, StreamSpec, stream_builder
from merauto.spec.registry import Component, Registry

__all__ = [
    "INPUTS",
    "STREAM_BUILDERS",
    "ClipFrames",
    "InputKind",
    "StreamSpec",
    "estimate_apex",
    "pipeline_streams",
    "stream_builder",
    "stream_layouts",
]

FLOW_CHANNELS = ("u+v+strain", "u+v+strain+magnitude+orientation", "magnitude+orientation+strain")
# The trunk of a vector stream (see merauto.evaluator.model.vector_trunk): one hidden layer, or none
# (the features go straight to the linear classifier). Searched by the inputs that have one.
VECTOR_TRUNKS = ("mlp", "linear")
# Landmark graph streams may also take graph convolutions over their landmarks (1-2 layers).
LANDMARK_TRUNKS = (*VECTOR_TRUNKS, "gcn")
# How a sequence stream is modelled over time (see merauto.evaluator.temporal): frames stacked as
# channels for the topology, a per-frame CNN cascaded into a GRU or LSTM, or 3D / (2+1)D convolutions.
TEMPORAL_TRUNKS = ("channels", "gru", "lstm", "conv3d", "conv2plus1d")


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
    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Stream name -> (builder kind, builder parameters)."""

    def streams(self, params: dict[str, Any], upstream: Mapping[str, Step] | None = None) -> dict[str, StreamSpec]:
        """The named streams this input feeds the model, with ``upstream`` preprocessing where it applies."""
        return {name: StreamSpec.of(kind, upstream, **p) for name, (kind, p) in self.stream_params(params).items()}

    def uses(self, params: dict[str, Any]) -> frozenset[str]:
        """The preprocessing slots that act on any of this input's streams."""
        return frozenset(slot for spec in self.streams(params).values() for slot in STREAM_BUILDERS[spec.kind].uses)


INPUTS: Registry[InputKind] = Registry("input")


class LandmarkGraphTrunk(InputKind):
    """An input with a landmark graph stream: its vector trunk may be a GCN, of ``gcn_layers`` layers."""

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        params = super().suggest(trial, prefix)
        if params["vector_trunk"] == "gcn":
            params["gcn_layers"] = trial.suggest_int(prefix + "gcn_layers", 1, 2)
        return params


def upstream_of(config: Any) -> dict[str, Step]:
    """The preprocessing steps of a pipeline config (its face, magnification and roi choices)."""
    return {slot: (getattr(config, slot).name, getattr(config, slot).params) for slot in PREPROCESSING if hasattr(config, slot)}


def pipeline_streams(config: Any) -> dict[str, StreamSpec]:
    """The streams of a pipeline config: its input's streams with its preprocessing upstream."""
    kind = INPUTS.get(config.input.name)
    return kind.streams(kind.resolve(config.input.params), upstream_of(config))


def stream_layouts(config: Any) -> dict[str, StreamLayout | None]:
    """Stream name -> what its values mean (``None`` for opaque streams)."""
    return {name: spec.layout() for name, spec in pipeline_streams(config).items()}


def _flow(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "flow_strain", {"size": int(params["size"]), "method": params["flow_method"], "channels": params["flow_channels"]}


def _apex(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "apex_frame", {"size": int(params["size"])}


def _sequence(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "sequence", {"size": int(params["size"]), "frames": int(params["frames"])}


def _lbp_top(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "lbp_top", {"blocks": int(params["blocks"])}


FLOW_DEFAULTS = {"size": 28, "flow_method": "farneback", "flow_channels": "u+v+strain"}
FLOW_CHOICES = {"flow_method": FLOW_METHODS, "flow_channels": FLOW_CHANNELS}


@INPUTS.register
class FlowStrainInput(InputKind):
    name = "flow_strain"
    description = "onset->apex optical flow (u, v) + optical strain (STSTNet-style), optionally magnitude and orientation"
    defaults = FLOW_DEFAULTS
    choices = FLOW_CHOICES

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"flow": _flow(params)}


@INPUTS.register
class ApexInput(InputKind):
    name = "apex"
    description = "the grey apex frame"

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"apex": _apex(params)}


@INPUTS.register
class FlowApexInput(InputKind):
    name = "flow_apex"
    description = "two streams: flow + strain, and the apex frame"
    defaults = FLOW_DEFAULTS
    choices = FLOW_CHOICES

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"flow": _flow(params), "apex": _apex(params)}


@INPUTS.register
class KeyFramesInput(InputKind):
    name = "key_frames"
    description = "frame aggregation: onset, apex and offset frames stacked"

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"frames": ("key_frames", {"size": int(params["size"])})}


@INPUTS.register
class SequenceInput(InputKind):
    name = "sequence"
    description = "onset..offset temporally normalised to N frames, modelled as stacked channels or over time"
    defaults = {"size": 28, "frames": 8, "temporal": "channels"}
    choices = {"frames": (4, 8), "temporal": TEMPORAL_TRUNKS}

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"sequence": _sequence(params)}


@INPUTS.register
class DynamicImageInput(InputKind):
    name = "dynamic_image"
    description = "dynamic image: approximate rank pooling of onset..offset normalised to N frames"
    defaults = {"size": 28, "frames": 16}
    choices = {"frames": (8, 16)}

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"dynamic": ("dynamic_image", {"size": int(params["size"]), "frames": int(params["frames"])})}


@INPUTS.register
class LbpTopInput(InputKind):
    name = "lbp_top"
    description = "hand-crafted LBP-TOP histograms (blocks x blocks, 3 planes, 59 bins), an MLP or no trunk"
    defaults = {"blocks": 4, "vector_trunk": "mlp"}
    choices = {"blocks": (3, 5), "vector_trunk": VECTOR_TRUNKS}

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"lbp_top": _lbp_top(params)}


@INPUTS.register
class LandmarkGraphInput(LandmarkGraphTrunk):
    name = "landmark_graph"
    description = (
        "onset->apex landmark graph: node displacements and edge length changes (needs landmarks), an MLP, no trunk "
        "or a GCN over the landmarks"
    )
    defaults = {"vector_trunk": "mlp"}
    choices = {"vector_trunk": LANDMARK_TRUNKS}
    needs_landmarks = True

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"landmarks": ("landmark_graph", {})}


@INPUTS.register
class FlowSequenceInput(InputKind):
    name = "flow_sequence"
    description = "two streams: flow + strain, and the N-frame sequence (stacked channels or modelled over time)"
    defaults = {**FLOW_DEFAULTS, "frames": 8, "temporal": "channels"}
    choices = {**FLOW_CHOICES, "frames": (4, 8), "temporal": TEMPORAL_TRUNKS}

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"flow": _flow(params), "sequence": _sequence(params)}


@INPUTS.register
class FlowLandmarksInput(LandmarkGraphTrunk):
    name = "flow_landmarks"
    description = "two streams: flow + strain, and the landmark graph (needs landmarks; an MLP, no trunk or a GCN)"
    defaults = {**FLOW_DEFAULTS, "vector_trunk": "mlp"}
    choices = {**FLOW_CHOICES, "vector_trunk": LANDMARK_TRUNKS}
    needs_landmarks = True

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"flow": _flow(params), "landmarks": ("landmark_graph", {})}


@INPUTS.register
class FlowLbpTopInput(InputKind):
    name = "flow_lbp_top"
    description = "two streams: flow + strain (learned), and the hand-crafted LBP-TOP histograms (an MLP or no trunk)"
    defaults = {**FLOW_DEFAULTS, "blocks": 4, "vector_trunk": "mlp"}
    choices = {**FLOW_CHOICES, "blocks": (3, 5), "vector_trunk": VECTOR_TRUNKS}

    def stream_params(self, params: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {"flow": _flow(params), "lbp_top": _lbp_top(params)}
