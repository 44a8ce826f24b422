"""lbp_top: hand-crafted LBP-TOP histograms (Zhao and Pietikainen 2007; survey §4.2.3)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.preprocessing.lbp_top import lbp_top
from merauto.data.preprocessing.temporal import resample_frames
from merauto.data.streams import StreamLayout, stream_builder

LBP_TOP_DEFAULTS = {"blocks": 4}
LBP_TOP_CHOICES = {"blocks": (3, 5)}


@stream_builder("lbp_top", version="1", layout=lambda p: StreamLayout(vector=True), uses=frozenset({"face", "magnification"}))
def build_lbp_top(clip: PreparedClip, blocks: int, frames: int = 16, resolution: int = 64) -> np.ndarray:
    """LBP-TOP histograms of the onset..offset frames, normalised to ``frames`` frames of ``resolution`` px."""
    volume = np.stack(
        [cv2.resize(f, (resolution, resolution), interpolation=cv2.INTER_AREA) for f in resample_frames(clip.window(), int(frames))]
    )
    return lbp_top(volume, int(blocks))


def lbp_top_stream(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The lbp_top stream of an input with :data:`LBP_TOP_DEFAULTS`' parameters."""
    return "lbp_top", {"blocks": int(params["blocks"])}


@INPUTS.register
class LbpTopInput(InputKind):
    name = "lbp_top"
    description = "hand-crafted LBP-TOP histograms (blocks x blocks, 3 planes, 59 bins), read by a vector trunk"
    defaults = LBP_TOP_DEFAULTS
    choices = LBP_TOP_CHOICES

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"lbp_top": lbp_top_stream(params)}
