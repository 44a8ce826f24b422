"""The stream builders of the survey's input modalities (§4.2), each registered with its layout.

Image builders return maps (C, H, W) at the prepared frames' resolution; regions and resizing
follow in :func:`merauto.data.streams.build_stream`. Vector builders return (D,) features.
"""

from __future__ import annotations

import cv2
import numpy as np

from merauto.data.clip import PreparedClip
from merauto.data.dynamic_image import dynamic_image
from merauto.data.flow import flow_components, optical_flow
from merauto.data.landmarks import graph_features
from merauto.data.lbp_top import lbp_top
from merauto.data.streams import IMAGE_STEPS, StreamLayout, stream_builder
from merauto.data.temporal import resample_frames

DEFAULT_FLOW_CHANNELS = "u+v+strain"


@stream_builder(
    "flow_strain", version="1", layout=lambda p: StreamLayout(tuple(p.get("channels", DEFAULT_FLOW_CHANNELS).split("+"))), uses=IMAGE_STEPS
)
def build_flow_strain(clip: PreparedClip, method: str, channels: str = DEFAULT_FLOW_CHANNELS) -> np.ndarray:
    """Onset->apex optical flow and maps derived from it (``channels``: '+'-joined flow components)."""
    flow = optical_flow(clip.frame(clip.sample.onset), clip.frame(clip.apex), method)
    return flow_components(flow, tuple(channels.split("+")))


@stream_builder("apex_frame", version="1", layout=lambda p: StreamLayout(("grey",)), uses=IMAGE_STEPS)
def build_apex_frame(clip: PreparedClip) -> np.ndarray:
    """The grey apex frame, scaled to 0..1."""
    return (clip.frame(clip.apex) / 255.0).astype(np.float32)[None]


@stream_builder("key_frames", version="1", layout=lambda p: StreamLayout(("grey",), frames=3, reference=True), uses=IMAGE_STEPS)
def build_key_frames(clip: PreparedClip) -> np.ndarray:
    """Frame aggregation: onset, apex and offset frames stacked, 0..1."""
    positions = (clip.sample.onset, clip.apex, clip.sample.offset)
    return (np.stack([clip.frame(p) for p in positions]) / 255.0).astype(np.float32)


@stream_builder(
    "sequence",
    version="1",
    layout=lambda p: StreamLayout(("grey",), frames=int(p["frames"]), reference=True, evenly_spaced=True),
    uses=IMAGE_STEPS,
)
def build_sequence(clip: PreparedClip, frames: int) -> np.ndarray:
    """The onset..offset frames temporally normalised to ``frames`` frames, 0..1 (T stacked as channels)."""
    return (resample_frames(clip.window(), int(frames)) / 255.0).astype(np.float32)


@stream_builder("dynamic_image", version="1", layout=lambda p: StreamLayout(("dynamic",)), uses=IMAGE_STEPS)
def build_dynamic_image(clip: PreparedClip, frames: int) -> np.ndarray:
    """Approximate rank pooling of the onset..offset frames, normalised to ``frames`` frames first."""
    return (dynamic_image(resample_frames(clip.window(), int(frames))) / 255.0)[None]


@stream_builder("lbp_top", version="1", layout=lambda p: StreamLayout(vector=True), uses=frozenset({"face", "magnification"}))
def build_lbp_top(clip: PreparedClip, blocks: int, frames: int = 16, resolution: int = 64) -> np.ndarray:
    """LBP-TOP histograms of the onset..offset frames, normalised to ``frames`` frames of ``resolution`` px."""
    volume = np.stack(
        [cv2.resize(f, (resolution, resolution), interpolation=cv2.INTER_AREA) for f in resample_frames(clip.window(), int(frames))]
    )
    return lbp_top(volume, int(blocks))


@stream_builder(
    "landmark_graph", version="1", layout=lambda p: StreamLayout(vector=True, landmark_graph=True), uses=frozenset({"face"}), landmarks=True
)
def build_landmark_graph(clip: PreparedClip) -> np.ndarray:
    """The onset->apex landmark graph: node displacements and edge length changes."""
    return graph_features(clip.landmarks(clip.sample.onset), clip.landmarks(clip.apex))
