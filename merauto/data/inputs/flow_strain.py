"""flow_strain: onset->apex optical flow (u, v) and optical strain, STSTNet-style (survey §4.2.2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.preprocessing.flow import FLOW_METHODS, flow_components, optical_flow
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder

DEFAULT_FLOW_CHANNELS = "u+v+strain"
FLOW_CHANNELS = (DEFAULT_FLOW_CHANNELS, "u+v+strain+magnitude+orientation", "magnitude+orientation+strain")
FLOW_DEFAULTS = {"size": 28, "flow_method": "farneback", "flow_channels": DEFAULT_FLOW_CHANNELS}
FLOW_CHOICES = {"flow_method": FLOW_METHODS, "flow_channels": FLOW_CHANNELS}


@stream_builder(
    "flow_strain", version="1", layout=lambda p: StreamLayout(tuple(p.get("channels", DEFAULT_FLOW_CHANNELS).split("+"))), uses=IMAGE_STEPS
)
def build_flow_strain(clip: PreparedClip, method: str, channels: str = DEFAULT_FLOW_CHANNELS) -> np.ndarray:
    """Onset->apex optical flow and maps derived from it (``channels``: '+'-joined flow components)."""
    flow = optical_flow(clip.frame(clip.sample.onset), clip.frame(clip.apex), method)
    return flow_components(flow, tuple(channels.split("+")))


def flow_stream(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The flow_strain stream of an input with :data:`FLOW_DEFAULTS`' parameters."""
    return "flow_strain", {"size": int(params["size"]), "method": params["flow_method"], "channels": params["flow_channels"]}


@INPUTS.register
class FlowStrainInput(InputKind):
    name = "flow_strain"
    description = "onset->apex optical flow (u, v) + optical strain (STSTNet-style), optionally magnitude and orientation"
    defaults = FLOW_DEFAULTS
    choices = FLOW_CHOICES

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"flow": flow_stream(params)}
