"""landmark_graph: onset->apex landmark displacements and edge length changes (survey §4.2.4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.inputs.core import INPUTS, InputKind, StreamParams
from merauto.data.preprocessing.landmarks import graph_features
from merauto.data.streams import StreamLayout, stream_builder


@stream_builder(
    "landmark_graph", version="1", layout=lambda p: StreamLayout(vector=True, landmark_graph=True), uses=frozenset({"face"}), landmarks=True
)
def build_landmark_graph(clip: PreparedClip) -> np.ndarray:
    """The onset->apex landmark graph: node displacements and edge length changes."""
    return graph_features(clip.landmarks(clip.sample.onset), clip.landmarks(clip.apex))


LANDMARK_GRAPH_STREAM = ("landmark_graph", {})


@INPUTS.register
class LandmarkGraphInput(InputKind):
    name = "landmark_graph"
    description = "onset->apex landmark graph: node displacements and edge length changes (needs landmarks), read by a vector trunk"
    defaults: dict[str, Any] = {}
    needs_landmarks = True

    def stream_params(self, params: dict[str, Any]) -> StreamParams:
        return {"landmarks": LANDMARK_GRAPH_STREAM}
