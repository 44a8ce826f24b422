"""key_frames: frame aggregation, the onset, apex and offset frames stacked (survey §4.2.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder


@stream_builder("key_frames", version="1", layout=lambda p: StreamLayout(("grey",), frames=3, reference=True), uses=IMAGE_STEPS)
def build_key_frames(clip: PreparedClip) -> np.ndarray:
    """Frame aggregation: onset, apex and offset frames stacked, 0..1."""
    positions = (clip.sample.onset, clip.apex, clip.sample.offset)
    return (np.stack([clip.frame(p) for p in positions]) / 255.0).astype(np.float32)


@INPUTS.register
class KeyFramesInput(InputKind):
    name = "key_frames"
    description = "frame aggregation: onset, apex and offset frames stacked"

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"frames": ("key_frames", {"size": int(params["size"])})}
