"""Spot, then recognise: each micro-expression a spotter found in a long video, classified by a
recognition export with the interval's onset, apex and offset as the clip's frame numbers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from merauto.data.cache import FeatureCache
from merauto.data.clip_list import NewClip
from merauto.evaluator.spotting import Spotted
from merauto.results.export.pipeline import load_export


def recognise_spotted(
    export_dir: Path, video: Path, frames: np.ndarray, first: int, spotted: list[Spotted], cache_dir: Path, runtime: str = "torch"
) -> tuple[list[str], dict[int, tuple[str, list[float]]], list[str]]:
    """The export's classes, for each micro-expression in ``spotted`` (by index) its label and probabilities,
    and a warning when the video's frames are not of a size the pipeline was trained on.

    A folder of frames is read in place; a video file's frames are written to a temporary folder first.
    """
    pipeline = load_export(export_dir, runtime=runtime)
    micro = [k for k, s in enumerate(spotted) if s.interval.kind == "micro"]
    if not micro:
        return list(pipeline.classes), {}, []
    with tempfile.TemporaryDirectory(prefix="merauto-video-") as scratch:
        folder = Path(video)
        if not folder.is_dir():
            folder = Path(scratch)
            for n, frame in enumerate(frames, first):
                cv2.imwrite(str(folder / f"img{n:05d}.png"), frame)
        clips = [
            NewClip(folder, first + spotted[k].interval.start, first + spotted[k].apex, first + spotted[k].interval.end) for k in micro
        ]
        warnings = pipeline.size_warnings([folder])
        rows = pipeline.predict_clips(clips, FeatureCache(cache_dir))
    return list(pipeline.classes), {k: (label, probs) for k, (_, label, probs) in zip(micro, rows, strict=True)}, warnings
