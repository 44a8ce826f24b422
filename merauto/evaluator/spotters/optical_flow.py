"""The hand-crafted baseline spotter, after the MEGC optical-flow baselines.

For each frame t, the Farneback flow against the frames k before and after it, the median flow
vector subtracted (head motion), the mean of its largest magnitudes, and the smaller of the two
sides as the motion signal. Two scales, as in the MEGC baselines: the micro signal with a short
k, the macro signal with a long one, each smoothed on its own. Nothing is learned, so a fold's
signals are the same for every fold; only the thresholds differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from merauto.data.long_videos.folders import LongVideo
from merauto.evaluator.spotters.core import SPOTTERS, FittedSpotter, Memo, Spotter, detection_of
from merauto.evaluator.spotters.flow_bank import FlowBank
from merauto.evaluator.spotting import KINDS, VideoSignal, choose_thresholds, frames_of, video_signal


def two_sided(forward: np.ndarray, gap: int) -> np.ndarray:
    """Per-frame motion against both sides: min(motion from t - gap to t, motion from t to t + gap), from the forward motion.

    Within an expression shorter than ``gap`` frames both references are neutral, so the signal
    stays high across the whole interval; a lasting change (a head shift) is high on one side only.
    """
    backward = np.concatenate([np.zeros(min(gap, len(forward)), np.float32), forward[: max(0, len(forward) - gap)]])
    return np.minimum(forward, backward)


def raw_signals(frames: np.ndarray, fps: float, params: dict[str, Any], flows: FlowBank) -> dict[str, np.ndarray]:
    """The micro and macro motion signals of ``frames``, their flow read from (or added to) ``flows``."""
    out = {}
    for kind in KINDS:
        gap = frames_of(params[f"{kind}_gap_s"], fps)
        out[kind] = two_sided(flows.motion(frames, gap, params["top"]), gap)
    return out


def baseline_signals(videos: list[LongVideo], params: dict[str, Any], memo: Memo) -> list[VideoSignal]:
    """Every video's smoothed signals under ``params``."""
    detection = detection_of(params)
    return [video_signal(v.subject, v.name, raw_signals(v.frames, v.fps, params, memo.flows), v.truth, v.fps, detection) for v in videos]


class FittedOpticalFlow(FittedSpotter):
    """The baseline with its thresholds: nothing else to keep."""

    def raw(self, frames: np.ndarray, fps: float) -> dict[str, np.ndarray]:
        return raw_signals(frames, fps, self.params, FlowBank())


@SPOTTERS.register
class OpticalFlow(Spotter):
    name = "optical-flow"
    description = "MEGC optical-flow baseline: two-sided Farneback motion at a micro and a macro scale, peak detection"
    defaults = {
        "top": 0.05,  # the fraction of largest flow magnitudes averaged (expressions move a small part of the face)
        "micro_gap_s": 0.5,
        "micro_smooth_s": 0.05,
        "macro_gap_s": 2.0,
        "macro_smooth_s": 0.3,
        "distance_s": 0.5,
        "micro_max_s": 0.5,
    }
    choices = {  # grids, so raw signals repeat across trials
        "top": (0.01, 0.02, 0.05, 0.1, 0.2),
        "micro_gap_s": (0.2, 0.3, 0.4, 0.5, 0.6, 0.8),
        "micro_smooth_s": (0.03, 0.05, 0.08, 0.1, 0.15),
        "macro_gap_s": (0.8, 1.0, 1.5, 2.0, 2.5, 3.0),
        "macro_smooth_s": (0.1, 0.2, 0.3, 0.4, 0.5),
        "distance_s": (0.2, 0.3, 0.5, 0.8, 1.0, 1.5),
    }

    def fold_signals(
        self, videos: list[LongVideo], params: dict[str, Any], subject: str, memo: Memo, device: str = "auto"
    ) -> tuple[list[VideoSignal], list[VideoSignal]]:
        signals = baseline_signals(videos, params, memo)
        return [s for s in signals if s.subject != subject], [s for s in signals if s.subject == subject]

    def fit(self, videos: list[LongVideo], params: dict[str, Any], memo: Memo, device: str = "auto") -> FittedSpotter:
        return FittedOpticalFlow(params, choose_thresholds(baseline_signals(videos, params, memo)))

    def load(self, folder: Path, params: dict[str, Any], thresholds: dict[str, float]) -> FittedSpotter:
        return FittedOpticalFlow(params, thresholds)
