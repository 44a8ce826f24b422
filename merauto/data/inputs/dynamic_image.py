"""dynamic_image: approximate rank pooling of the onset..offset frames (Bilen et al. 2016; survey §4.2.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.preprocessing.dynamic_image import dynamic_image
from merauto.data.preprocessing.temporal import resample_frames
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder


@stream_builder("dynamic_image", version="1", layout=lambda p: StreamLayout(("dynamic",)), uses=IMAGE_STEPS)
def build_dynamic_image(clip: PreparedClip, frames: int) -> np.ndarray:
    """Approximate rank pooling of the onset..offset frames, normalised to ``frames`` frames first."""
    return (dynamic_image(resample_frames(clip.window(), int(frames))) / 255.0)[None]


@INPUTS.register
class DynamicImageInput(InputKind):
    name = "dynamic_image"
    description = "dynamic image: approximate rank pooling of onset..offset normalised to N frames"
    defaults = {"size": 28, "frames": 16}
    choices = {"frames": (8, 16)}

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"dynamic": ("dynamic_image", {"size": int(params["size"]), "frames": int(params["frames"])})}
