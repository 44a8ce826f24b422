"""sequence: the onset..offset frames temporally normalised to N frames (survey §4.2.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.preprocessing.temporal import resample_frames
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder

SEQUENCE_DEFAULTS = {"frames": 8}
SEQUENCE_CHOICES = {"frames": (4, 8)}


@stream_builder(
    "sequence",
    version="1",
    layout=lambda p: StreamLayout(("grey",), frames=int(p["frames"]), reference=True, evenly_spaced=True),
    uses=IMAGE_STEPS,
)
def build_sequence(clip: PreparedClip, frames: int) -> np.ndarray:
    """The onset..offset frames temporally normalised to ``frames`` frames, 0..1 (T stacked as channels)."""
    return (resample_frames(clip.window(), int(frames)) / 255.0).astype(np.float32)


def sequence_stream(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The sequence stream of an input with a ``size`` and :data:`SEQUENCE_DEFAULTS`' parameters."""
    return "sequence", {"size": int(params["size"]), "frames": int(params["frames"])}


@INPUTS.register
class SequenceInput(InputKind):
    name = "sequence"
    description = "onset..offset temporally normalised to N frames, modelled as stacked channels or over time"
    defaults = {"size": 28, **SEQUENCE_DEFAULTS}
    choices = SEQUENCE_CHOICES

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"sequence": sequence_stream(params)}
