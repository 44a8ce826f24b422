"""The spotter base class and registry, and what runs any spotter: its nested evaluation and spotting new frames."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merauto.data.long_videos.folders import LongVideo
from merauto.evaluator.canary import corrupt_videos
from merauto.evaluator.spotters.flow_bank import FlowBank
from merauto.evaluator.spotting import Detection, SpotOutcome, Spotted, VideoSignal, evaluate_spotter, video_signal
from merauto.pipeline.registry import Component, Registry


@dataclass
class Memo:
    """What a search keeps across trials: the videos' flow (:class:`FlowBank`, on disk when it has a cache) and,
    in this process, what spotters derive from it (trained networks), by setting."""

    flows: FlowBank = field(default_factory=FlowBank)
    kept: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def detection_of(params: dict[str, Any]) -> Detection:
    """The detection settings inside a spotter's parameters."""
    return Detection(params["micro_smooth_s"], params["macro_smooth_s"], params["distance_s"], params.get("micro_max_s", 0.5))


class FittedSpotter(ABC):
    """A spotter fitted on every subject of a set: its parameters, per-type thresholds, and its raw signals of new frames."""

    def __init__(self, params: dict[str, Any], thresholds: dict[str, float]) -> None:
        self.params = params
        self.thresholds = thresholds

    @abstractmethod
    def raw(self, frames: np.ndarray, fps: float) -> dict[str, np.ndarray]:
        """The unsmoothed micro and macro signals of grey ``frames`` (n, H, W)."""

    def save(self, folder: Path) -> list[str]:
        """Write what this spotter needs besides its parameters into ``folder``; the names of the files written."""
        return []


class Spotter(Component):
    """A registered spotter: its hyper-parameters are searched, its thresholds chosen by the protocol."""

    @abstractmethod
    def fold_signals(
        self, videos: list[LongVideo], params: dict[str, Any], subject: str, memo: Memo, device: str = "auto"
    ) -> tuple[list[VideoSignal], list[VideoSignal]]:
        """Signals of the training subjects' videos (what thresholds are chosen on) and of ``subject``'s
        videos, for the outer fold that tests ``subject``; nothing of ``subject``'s videos may shape the former.
        A spotter that trains does so on torch ``device``."""

    @abstractmethod
    def fit(self, videos: list[LongVideo], params: dict[str, Any], memo: Memo, device: str = "auto") -> FittedSpotter:
        """This spotter fitted on every subject of ``videos``, thresholds chosen on signals it would give unseen subjects."""

    @abstractmethod
    def load(self, folder: Path, params: dict[str, Any], thresholds: dict[str, float]) -> FittedSpotter:
        """A fitted spotter from an export ``folder`` (:meth:`FittedSpotter.save`)."""


SPOTTERS: Registry[Spotter] = Registry("spotter", default="optical-flow")


def evaluate(
    videos: list[LongVideo],
    name: str,
    params: dict[str, Any],
    memo: Memo | None = None,
    device: str = "auto",
    canary: str | None = None,
    seed: int = 0,
    on_fold: Callable[[int, int], None] | None = None,
) -> SpotOutcome:
    """Spotter ``name`` with ``params`` under nested leave-one-subject-out over ``videos``' subjects (trained on torch
    ``device``); with a leak ``canary`` each fold sees its test subject's videos corrupted (:mod:`merauto.evaluator.canary`).
    ``on_fold(done, folds)`` hears of each finished outer fold."""
    spotter = SPOTTERS.get(name)
    params = spotter.resolve(params)
    memo = Memo() if memo is None else memo
    subjects = sorted({v.subject for v in videos})

    def fold_signals(subject: str) -> tuple[list[VideoSignal], list[VideoSignal]]:
        seen = videos if canary is None else corrupt_videos(videos, subject, canary, seed + subjects.index(subject))
        return spotter.fold_signals(seen, params, subject, memo, device)

    return evaluate_spotter([v.subject for v in videos], fold_signals, on_fold)


def spot_frames(fitted: FittedSpotter, frames: np.ndarray, fps: float) -> tuple[list[Spotted], VideoSignal]:
    """The intervals ``fitted`` spots in ``frames`` (by start frame), and the signals it found them in."""
    signal = video_signal("new", "new", fitted.raw(frames, fps), (), fps, detection_of(fitted.params))
    return signal.found(fitted.thresholds), signal
