"""apex: the grey apex frame (survey §4.2.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder


@stream_builder("apex_frame", version="1", layout=lambda p: StreamLayout(("grey",)), uses=IMAGE_STEPS)
def build_apex_frame(clip: PreparedClip) -> np.ndarray:
    """The grey apex frame, scaled to 0..1."""
    return (clip.frame(clip.apex) / 255.0).astype(np.float32)[None]


def apex_stream(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The apex_frame stream of an input with a ``size``."""
    return "apex_frame", {"size": int(params["size"])}


@INPUTS.register
class ApexInput(InputKind):
    name = "apex"
    description = "the grey apex frame"

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"apex": apex_stream(params)}
