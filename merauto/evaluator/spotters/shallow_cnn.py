"""A learned spotter after SOFTNet's shallow optical-flow network (Liong et al., 2021).

Each frame t is scored from the flow fields around it: the Farneback flow from t - k to t and from
t to t + k at a micro and a macro gap k, each with its median vector removed (head motion) and
area-resized to ``flow_size`` x ``flow_size``: 8 channels. A two-convolution network with two
outputs is trained to say whether t lies inside a micro- and inside a macro-expression (every
positive frame and ``negatives`` times as many negatives drawn at random, class-weighted binary
cross-entropy). Its per-frame probabilities are the signals peak detection reads.

Thresholds must be chosen on scores of subjects the network did not see (scores of its own
training subjects are overconfident), so within a fold the training subjects are split in two
halves, each half scored by a network trained on the other (cross-fitting), and the test subject
by a network trained on every training subject. The test subject's frames and intervals reach
no network or threshold of its fold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from merauto.data.long_videos.folders import LongVideo
from merauto.errors import MerautoError
from merauto.evaluator.device import resolve_device
from merauto.evaluator.spotters.core import SPOTTERS, FittedSpotter, Memo, Spotter, detection_of
from merauto.evaluator.spotters.flow_bank import FlowBank
from merauto.evaluator.spotting import KINDS, VideoSignal, choose_thresholds, frames_of, video_signal

WEIGHTS_FILE = "spotter.safetensors"
CHANNELS = 4 * len(KINDS)  # flow (x, y) before and after t, per type's gap
BATCH = 128


def frame_inputs(frames: np.ndarray, fps: float, params: dict[str, Any], flows: FlowBank) -> np.ndarray:
    """(n, 8, S, S) float16 network inputs of every frame, their flow fields read from (or added to) ``flows``."""
    parts = []
    for kind in KINDS:
        gap = frames_of(params[f"{kind}_gap_s"], fps)
        forward = flows.fields(frames, gap, params["flow_size"])
        shift = min(gap, len(frames))  # a video shorter than the gap has no flow at all
        backward = np.concatenate([np.zeros((shift, *forward.shape[1:]), np.float16), forward[: len(frames) - shift]])
        parts += [backward, forward]
    return np.concatenate(parts, axis=1)


def frame_targets(video: LongVideo) -> np.ndarray:
    """(n, 2) float32: whether each frame lies inside a micro-, and inside a macro-expression."""
    targets = np.zeros((len(video.frames), len(KINDS)), np.float32)
    for interval in video.truth:
        targets[interval.start : interval.end + 1, KINDS.index(interval.kind)] = 1.0
    return targets


class FrameScorer(nn.Module):
    """Two convolutions over the flow channels, pooled, and a logit per expression type."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(CHANNELS, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, len(KINDS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TrainedScorer:
    """A trained :class:`FrameScorer` with the input scale it was trained at."""

    def __init__(self, model: FrameScorer, scale: float, device: str) -> None:
        self.model, self.scale, self.device = model.eval(), scale, device

    @torch.no_grad()
    def raw(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Per-type probabilities of every frame of ``inputs`` (:func:`frame_inputs`)."""
        out = []
        for start in range(0, len(inputs), 4096):
            x = torch.from_numpy(inputs[start : start + 4096].astype(np.float32)).to(self.device) / self.scale
            out.append(torch.sigmoid(self.model(x)).cpu().numpy())
        scores = np.concatenate(out) if out else np.zeros((0, len(KINDS)), np.float32)
        return {kind: scores[:, k].astype(np.float32) for k, kind in enumerate(KINDS)}


def train_scorer(videos: list[LongVideo], params: dict[str, Any], memo: Memo, device: str) -> TrainedScorer:
    """A scorer trained on ``videos``' frames: every positive frame and ``negatives`` times as many others (seeded)."""
    inputs = np.concatenate([frame_inputs(v.frames, v.fps, params, memo.flows) for v in videos])
    targets = np.concatenate([frame_targets(v) for v in videos])
    rng = np.random.default_rng(params["seed"])
    positive = np.flatnonzero(targets.any(axis=1))
    negative = np.flatnonzero(~targets.any(axis=1))
    wanted = max(BATCH, int(params["negatives"] * len(positive)))
    chosen = np.sort(np.concatenate([positive, rng.choice(negative, min(wanted, len(negative)), replace=False)]))
    x = torch.from_numpy(inputs[chosen].astype(np.float32))
    scale = float(x.std()) + 1e-6
    x, y = (x / scale).to(device), torch.from_numpy(targets[chosen]).to(device)
    share = y.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    generator = torch.Generator().manual_seed(params["seed"])
    torch.manual_seed(params["seed"])
    model = FrameScorer(params["width"]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=params["lr"])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=(1 - share) / share)
    model.train()
    for _ in range(params["epochs"]):
        for batch in torch.randperm(len(x), generator=generator).split(BATCH):
            if len(batch) < 2:  # batch normalisation needs two samples
                continue
            optimiser.zero_grad()
            loss_fn(model(x[batch.to(device)]), y[batch.to(device)]).backward()
            optimiser.step()
    return TrainedScorer(model, scale, device)


def _scorer(videos: list[LongVideo], subjects: list[str], params: dict[str, Any], memo: Memo, device: str) -> TrainedScorer:
    """The scorer trained on ``subjects``' videos, kept in ``memo``: folds that train on the same subjects share it."""
    entry = ("scorer", tuple(sorted(subjects)), json.dumps(params, sort_keys=True))
    if entry not in memo.kept:
        memo.kept[entry] = train_scorer([v for v in videos if v.subject in subjects], params, memo, resolve_device(device))
    return memo.kept[entry]


def _signals(scorer: TrainedScorer, videos: list[LongVideo], params: dict[str, Any], memo: Memo) -> list[VideoSignal]:
    detection = detection_of(params)
    return [
        video_signal(v.subject, v.name, scorer.raw(frame_inputs(v.frames, v.fps, params, memo.flows)), v.truth, v.fps, detection)
        for v in videos
    ]


def cross_fitted_signals(
    videos: list[LongVideo], subjects: list[str], params: dict[str, Any], memo: Memo, device: str
) -> list[VideoSignal]:
    """Signals of ``subjects``' videos, each half of the subjects scored by a network trained on the other half."""
    halves = [subjects[0::2], subjects[1::2]]
    signals = []
    for half, other in (halves, halves[::-1]):
        signals += _signals(_scorer(videos, other, params, memo, device), [v for v in videos if v.subject in half], params, memo)
    return signals


class FittedShallowCNN(FittedSpotter):
    """The network trained on every subject, with thresholds chosen on cross-fitted scores."""

    def __init__(self, params: dict[str, Any], thresholds: dict[str, float], scorer: TrainedScorer) -> None:
        super().__init__(params, thresholds)
        self.scorer = scorer

    def raw(self, frames: np.ndarray, fps: float) -> dict[str, np.ndarray]:
        return self.scorer.raw(frame_inputs(frames, fps, self.params, FlowBank()))

    def save(self, folder: Path) -> list[str]:
        state = {name: t.detach().cpu().contiguous().clone() for name, t in self.scorer.model.state_dict().items()}
        (Path(folder) / WEIGHTS_FILE).write_bytes(safetensors.torch.save(state, metadata={"scale": repr(self.scorer.scale)}))
        return [WEIGHTS_FILE]


@SPOTTERS.register
class ShallowCNN(Spotter):
    name = "shallow-cnn"
    description = "SOFTNet-like: a shallow network scores each frame from the flow around it at two gaps, peak detection on its scores"
    defaults = {
        "micro_gap_s": 0.3,
        "macro_gap_s": 1.0,
        "micro_smooth_s": 0.05,
        "macro_smooth_s": 0.2,
        "distance_s": 0.5,
        "micro_max_s": 0.5,
        "flow_size": 16,
        "width": 8,
        "epochs": 8,
        "negatives": 2.0,
        "lr": 3e-3,
        "seed": 0,
    }
    choices = {
        "micro_gap_s": (0.2, 0.3, 0.4, 0.5),
        "macro_gap_s": (0.8, 1.0, 1.5, 2.0),
        "micro_smooth_s": (0.03, 0.05, 0.1),
        "macro_smooth_s": (0.1, 0.2, 0.3),
        "distance_s": (0.3, 0.5, 0.8, 1.0),
        "width": (8, 16),
        "epochs": (4, 8, 12),
        "negatives": (1.0, 2.0, 4.0),
        "lr": (1e-3, 3e-3, 1e-2),
    }

    def fold_signals(
        self, videos: list[LongVideo], params: dict[str, Any], subject: str, memo: Memo, device: str = "auto"
    ) -> tuple[list[VideoSignal], list[VideoSignal]]:
        train = sorted({v.subject for v in videos} - {subject})
        test = _signals(_scorer(videos, train, params, memo, device), [v for v in videos if v.subject == subject], params, memo)
        return cross_fitted_signals(videos, train, params, memo, device), test

    def fit(self, videos: list[LongVideo], params: dict[str, Any], memo: Memo, device: str = "auto") -> FittedSpotter:
        subjects = sorted({v.subject for v in videos})
        thresholds = choose_thresholds(cross_fitted_signals(videos, subjects, params, memo, device))
        return FittedShallowCNN(params, thresholds, _scorer(videos, subjects, params, memo, device))

    def load(self, folder: Path, params: dict[str, Any], thresholds: dict[str, float]) -> FittedSpotter:
        path = Path(folder) / WEIGHTS_FILE
        if not path.is_file():
            raise MerautoError(f"{folder} holds no {WEIGHTS_FILE}", "export the spotter again with merauto spot --export")
        with safetensors.safe_open(str(path), framework="pt") as handle:
            scale = float((handle.metadata() or {})["scale"])
        model = FrameScorer(params["width"])
        model.load_state_dict(safetensors.torch.load_file(str(path)))
        device = resolve_device("auto")
        return FittedShallowCNN(params, thresholds, TrainedScorer(model.to(device), scale, device))
