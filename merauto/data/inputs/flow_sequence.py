"""flow_sequence: two streams, flow + strain and the N-frame sequence."""

from __future__ import annotations

from typing import Any

from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.inputs.flow_strain import FLOW_CHOICES, FLOW_DEFAULTS, flow_stream
from merauto.data.inputs.sequence import SEQUENCE_CHOICES, SEQUENCE_DEFAULTS, sequence_stream


@INPUTS.register
class FlowSequenceInput(InputKind):
    name = "flow_sequence"
    description = "two streams: flow + strain, and the N-frame sequence (stacked channels or modelled over time)"
    defaults = {**FLOW_DEFAULTS, **SEQUENCE_DEFAULTS}
    choices = {**FLOW_CHOICES, **SEQUENCE_CHOICES}

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"flow": flow_stream(params), "sequence": sequence_stream(params)}
