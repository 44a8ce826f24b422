"""flow_landmarks: two streams, flow + strain and the landmark graph."""

from __future__ import annotations

from typing import Any

from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.inputs.flow_strain import FLOW_CHOICES, FLOW_DEFAULTS, flow_stream
from merauto.data.inputs.landmark_graph import LANDMARK_GRAPH_STREAM


@INPUTS.register
class FlowLandmarksInput(InputKind):
    name = "flow_landmarks"
    description = "two streams: flow + strain, and the landmark graph (needs landmarks; read by a vector trunk)"
    defaults = FLOW_DEFAULTS
    choices = FLOW_CHOICES
    needs_landmarks = True

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"flow": flow_stream(params), "landmarks": LANDMARK_GRAPH_STREAM}
