"""flow_apex: two streams, flow + strain and the apex frame."""

from __future__ import annotations

from typing import Any

from merauto.data.inputs.apex_frame import apex_stream
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.inputs.flow_strain import FLOW_CHOICES, FLOW_DEFAULTS, flow_stream


@INPUTS.register
class FlowApexInput(InputKind):
    name = "flow_apex"
    description = "two streams: flow + strain, and the apex frame"
    defaults = FLOW_DEFAULTS
    choices = FLOW_CHOICES

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"flow": flow_stream(params), "apex": apex_stream(params)}
