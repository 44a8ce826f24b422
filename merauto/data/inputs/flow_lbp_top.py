"""flow_lbp_top: two streams, flow + strain (learned) and the hand-crafted LBP-TOP histograms."""

from __future__ import annotations

from typing import Any

from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.inputs.flow_strain import FLOW_CHOICES, FLOW_DEFAULTS, flow_stream
from merauto.data.inputs.lbp_top import LBP_TOP_CHOICES, LBP_TOP_DEFAULTS, lbp_top_stream


@INPUTS.register
class FlowLbpTopInput(InputKind):
    name = "flow_lbp_top"
    description = "two streams: flow + strain (learned), and the hand-crafted LBP-TOP histograms (read by a vector trunk)"
    defaults = {**FLOW_DEFAULTS, **LBP_TOP_DEFAULTS}
    choices = {**FLOW_CHOICES, **LBP_TOP_CHOICES}

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"flow": flow_stream(params), "lbp_top": lbp_top_stream(params)}
