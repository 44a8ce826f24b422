"""Training-time augmentation (survey §4.1.5): registered, searchable policies on batched tensors.

A policy acts on a training batch only (the hook in ``ModelSet._step``), never at
prediction; it reads nothing but the batch itself, so it adds no statistic to fit. Values are
de-standardised first so each transform sees physical units, and every transform respects
what the channels mean (the stream's :class:`~merauto.data.streams.StreamLayout`):

- ``spatial``: random flip, rotation and crop-and-zoom (one affine warp per sample, kornia),
  with flow vectors carried along (a horizontal flip negates u; rotation turns (u, v) and the
  orientation; zoom scales u, v and magnitude), and brightness/contrast on grey channels.
- ``motion``: magnification ratio jitter, the cheap tensor form of "multiple magnification
  ratios as augmentation": motion is scaled by a random ratio r (flow, strain, dynamic image;
  frames move from their reference frame f0 to f0 + r (f - f0), EVM's linear model), and
  TIM-style temporal resampling of a random sub-window of evenly spaced sequences.
- ``mixup``: convex combinations of sample pairs and of their labels.
- ``cutmix``: a random rectangle of each sample's image maps replaced by its partner's, the labels
  mixed by the area pasted (Yun et al. 2019). Flow, strain and frames are local, so a pasted
  patch is what the partner's face did there; the rectangle is the same fraction of every map
  (each region's patch, every frame of a sequence), and streams that are not maps (feature
  vectors, landmark graphs) are mixed with the same weight as mixup mixes them, so the label
  weights describe every stream; an input without a map is left as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from kornia.enhance import adjust_brightness, adjust_contrast
from kornia.geometry.transform import warp_affine

from merauto.data.inputs import stream_layouts
from merauto.data.preprocessing.temporal import resample_windows
from merauto.data.streams import StreamLayout
from merauto.pipeline.registry import Component, Registry

MOTION_ROLES = frozenset({"u", "v", "magnitude", "strain", "dynamic"})  # channels linear in the motion


@dataclass
class AugmentedBatch:
    """Model inputs and the loss targets as (weight, labels) pairs (one pair without mixup)."""

    inputs: dict[str, torch.Tensor]
    targets: list[tuple[float, torch.Tensor]]


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=device)


def affine_matrices(n: int, height: int, width: int, flip: bool, rotate: float, crop: float, device: torch.device) -> torch.Tensor:
    """Random (n, 2, 3) warps about the image centre: optional horizontal flip, rotation, and a zoom into a crop."""
    sign = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0) if flip else torch.ones(n, device=device)
    angle = torch.deg2rad(_uniform(n, -rotate, rotate, device))
    scale = 1.0 / _uniform(n, crop, 1.0, device)  # keeping a fraction `crop` of the side zooms by 1 / crop
    slack = (1.0 - 1.0 / scale) / 2.0
    shift_x, shift_y = _uniform(n, -1, 1, device) * slack * width, _uniform(n, -1, 1, device) * slack * height
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    linear = torch.stack([torch.stack([cos * sign, -sin], -1), torch.stack([sin * sign, cos], -1)], -2)  # R S F
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=device)
    offset = centre - linear @ centre + torch.stack([shift_x, shift_y], -1)
    return torch.cat([linear, offset[..., None]], dim=-1)


def carry_vectors(x: torch.Tensor, roles: tuple[str, ...], linear: torch.Tensor) -> torch.Tensor:
    """Apply each sample's linear map (n, 2, 2) to the flow vectors of ``x`` (n, C, H, W) after a warp.

    Channels repeat ``roles`` (frames, regions); in each group (u, v) turn, magnitude scales
    by the map's scale and orientation turns with the vectors (read from u, v when present).
    """
    out = x.clone()
    group = len(roles)
    scale = linear.det().abs().sqrt().view(-1, 1, 1)
    a = linear.view(-1, 2, 2, 1, 1)
    for start in range(0, x.shape[1], group):
        index = {role: start + i for i, role in enumerate(roles)}
        if "u" in index and "v" in index:
            u, v = x[:, index["u"]], x[:, index["v"]]
            out[:, index["u"]] = a[:, 0, 0] * u + a[:, 0, 1] * v
            out[:, index["v"]] = a[:, 1, 0] * u + a[:, 1, 1] * v
        if "magnitude" in index:
            out[:, index["magnitude"]] = x[:, index["magnitude"]] * scale
        if "orientation" in index:
            theta = x[:, index["orientation"]]
            cx, cy = torch.cos(theta), torch.sin(theta)
            out[:, index["orientation"]] = torch.atan2(a[:, 1, 0] * cx + a[:, 1, 1] * cy, a[:, 0, 0] * cx + a[:, 0, 1] * cy)
    return out


@dataclass(frozen=True)
class Spatial:
    """Flip, rotation (degrees), crop (smallest fraction of the side kept), brightness and contrast (max change)."""

    flip: bool
    rotate: float
    crop: float
    brightness: float
    contrast: float

    def __call__(self, x: torch.Tensor, layout: StreamLayout, roles: tuple[str, ...]) -> torch.Tensor:
        n, _, h, w = x.shape
        matrices = affine_matrices(n, h, w, self.flip, self.rotate, self.crop, x.device)
        x = carry_vectors(warp_affine(x, matrices, (h, w), padding_mode="border", align_corners=True), roles, matrices[:, :, :2])
        grey = [c for c, role in enumerate(roles) if role == "grey"]
        if grey and (self.brightness > 0 or self.contrast > 0):
            contrast = _uniform(n, 1 - self.contrast, 1 + self.contrast, x.device)
            brightness = _uniform(n, -self.brightness, self.brightness, x.device)
            x = x.clone()
            x[:, grey] = adjust_brightness(adjust_contrast(x[:, grey], contrast), brightness)
        return x


@dataclass(frozen=True)
class Motion:
    """Magnification ratio jitter (ratios in [1/ratio, ratio]) and temporal resampling (windows keep >= 1 - temporal)."""

    ratio: float
    temporal: float

    def __call__(self, x: torch.Tensor, layout: StreamLayout, roles: tuple[str, ...]) -> torch.Tensor:
        n = x.shape[0]
        r = torch.exp(_uniform(n, -math.log(self.ratio), math.log(self.ratio), x.device)).view(n, 1, 1, 1)
        motion = torch.tensor([role in MOTION_ROLES for role in roles], device=x.device).view(1, -1, 1, 1)
        x = torch.where(motion, x * r, x)
        if not layout.reference:
            return x
        per_frame = len(layout.roles)
        clips = x.reshape(n, -1, layout.frames, per_frame, *x.shape[2:])  # (n, regions, T, C, H, W)
        if layout.evenly_spaced and self.temporal > 0:
            keep = _uniform(n, 1 - self.temporal, 1.0, x.device)
            start = torch.rand(n, device=x.device) * (1 - keep)
            clips = resample_windows(clips.transpose(1, 2), start, start + keep).transpose(1, 2)
        grey = torch.tensor([role == "grey" for role in layout.roles], device=x.device).view(1, 1, 1, -1, 1, 1)
        first = clips[:, :, :1]
        clips = torch.where(grey, first + r.view(n, 1, 1, 1, 1, 1) * (clips - first), clips)
        return clips.reshape(x.shape)


@dataclass(frozen=True)
class CutMix:
    """CutMix with probability ``prob`` per batch: the kept fraction lam ~ Beta(alpha, alpha), the pasted
    rectangle of side fractions sqrt(1 - lam) centred uniformly and clipped to the map, one per batch."""

    alpha: float
    prob: float

    def __call__(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, maps: list[str]) -> AugmentedBatch:
        """Mix the batch with a permutation of itself: the streams named in ``maps`` (n, C, H, W) by pasting,
        the others convexly with the weight of the largest map's kept area. Without a map, the batch as it is."""
        if not maps or float(torch.rand(())) >= self.prob:
            return AugmentedBatch(inputs, [(1.0, labels)])
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        side = math.sqrt(1 - lam)
        centre_x, centre_y = torch.rand(2).tolist()
        perm = torch.randperm(len(labels), device=labels.device)
        mixed, kept = {}, {}
        for name in maps:
            x = inputs[name]
            h, w = x.shape[-2:]
            y0, y1 = (min(max(round((centre_y + d * side / 2) * h), 0), h) for d in (-1, 1))
            x0, x1 = (min(max(round((centre_x + d * side / 2) * w), 0), w) for d in (-1, 1))
            mixed[name] = x.clone()
            mixed[name][:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
            kept[name] = 1 - (y1 - y0) * (x1 - x0) / (h * w)
        lam = kept[max(maps, key=lambda name: inputs[name].shape[-2] * inputs[name].shape[-1])]
        for name, x in inputs.items():
            if name not in maps:
                mixed[name] = lam * x + (1 - lam) * x[perm]
        return AugmentedBatch(mixed, [(lam, labels), (1 - lam, labels[perm])])


class Augmenter:
    """Augments a standardised training batch; streams without a layout or with vectors pass through
    the transforms, and CutMix pastes into image maps only."""

    def __init__(
        self,
        layouts: dict[str, StreamLayout | None],
        mean: dict[str, torch.Tensor],
        std: dict[str, torch.Tensor],
        transforms: tuple[Spatial | Motion, ...] = (),
        mixup: float = 0.0,
        cutmix: CutMix | None = None,
    ) -> None:
        self.layouts = layouts
        self.mean, self.std = mean, std
        self.transforms = transforms
        self.mixup = mixup
        self.cutmix = cutmix

    def _transform(self, name: str, x: torch.Tensor) -> torch.Tensor:
        layout = self.layouts.get(name)
        if not self.transforms or layout is None or layout.vector or x.ndim != 4 or x.shape[1] % len(layout.frame_roles()):
            return x
        roles = layout.frame_roles() * (x.shape[1] // len(layout.frame_roles()))
        raw = x * self.std[name] + self.mean[name]
        for transform in self.transforms:
            raw = transform(raw, layout, roles)
        return (raw - self.mean[name]) / self.std[name]

    def _is_map(self, name: str, x: torch.Tensor) -> bool:
        """Whether stream ``name`` is an image map (n, C, H, W) whose pixels are places on the face."""
        layout = self.layouts.get(name)
        return layout is not None and not layout.vector and x.ndim == 4

    def __call__(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> AugmentedBatch:
        inputs = {name: self._transform(name, x) for name, x in inputs.items()}
        if self.cutmix is not None and len(labels) >= 2:
            return self.cutmix(inputs, labels, [name for name, x in inputs.items() if self._is_map(name, x)])
        if self.mixup <= 0 or len(labels) < 2:
            return AugmentedBatch(inputs, [(1.0, labels)])
        lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
        perm = torch.randperm(len(labels), device=labels.device)
        mixed = {name: lam * x + (1 - lam) * x[perm] for name, x in inputs.items()}
        return AugmentedBatch(mixed, [(lam, labels), (1 - lam, labels[perm])])


class Augmentation(Component):
    """A registered augmentation policy."""

    def build(
        self, params: dict[str, Any], layouts: dict[str, StreamLayout | None], mean: dict[str, torch.Tensor], std: dict[str, torch.Tensor]
    ) -> Augmenter:
        """The augmenter of this policy for streams of the given layouts and standardisation."""
        return Augmenter(layouts, mean, std, self.transforms(params), float(params.get("mixup", 0.0)), self.cutmix(params))

    def transforms(self, params: dict[str, Any]) -> tuple[Spatial | Motion, ...]:
        return ()

    def cutmix(self, params: dict[str, Any]) -> CutMix | None:
        """The CutMix of this policy (``None``: it pastes nothing)."""
        return None


AUGMENTS: Registry[Augmentation] = Registry("augment")

SPATIAL_DEFAULTS = {"flip": True, "rotate": 10.0, "crop": 0.85, "brightness": 0.1, "contrast": 0.1}
MOTION_DEFAULTS = {"ratio": 1.5, "temporal": 0.2}


def _suggest_spatial(trial: optuna.Trial, prefix: str) -> dict[str, Any]:
    return {
        "flip": trial.suggest_categorical(prefix + "flip", [True, False]),
        "rotate": trial.suggest_float(prefix + "rotate", 0.0, 15.0),
        "crop": trial.suggest_float(prefix + "crop", 0.75, 1.0),
        "brightness": trial.suggest_float(prefix + "brightness", 0.0, 0.2),
        "contrast": trial.suggest_float(prefix + "contrast", 0.0, 0.2),
    }


def _suggest_motion(trial: optuna.Trial, prefix: str) -> dict[str, Any]:
    return {"ratio": trial.suggest_float(prefix + "ratio", 1.0, 2.0), "temporal": trial.suggest_float(prefix + "temporal", 0.0, 0.4)}


def _spatial(params: dict[str, Any]) -> Spatial:
    return Spatial(
        bool(params["flip"]), float(params["rotate"]), float(params["crop"]), float(params["brightness"]), float(params["contrast"])
    )


def _motion(params: dict[str, Any]) -> Motion:
    return Motion(float(params["ratio"]), float(params["temporal"]))


@AUGMENTS.register
class NoAugmentation(Augmentation):
    name = "none"
    description = "training batches as they are"


@AUGMENTS.register
class SpatialAugmentation(Augmentation):
    name = "spatial"
    description = "flip, rotation, crop-and-zoom (flow-aware), brightness/contrast on grey frames"
    defaults = SPATIAL_DEFAULTS

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return _suggest_spatial(trial, prefix)

    def transforms(self, params: dict[str, Any]) -> tuple[Spatial | Motion, ...]:
        return (_spatial(params),)


@AUGMENTS.register
class MotionAugmentation(Augmentation):
    name = "motion"
    description = "magnification ratio jitter and TIM-style temporal resampling of sequences"
    defaults = MOTION_DEFAULTS

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return _suggest_motion(trial, prefix)

    def transforms(self, params: dict[str, Any]) -> tuple[Spatial | Motion, ...]:
        return (_motion(params),)


@AUGMENTS.register
class MixupAugmentation(Augmentation):
    name = "mixup"
    description = "mixup: pairs of samples and labels mixed with a Beta(a, a) weight"
    defaults = {"mixup": 0.2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"mixup": trial.suggest_float(prefix + "mixup", 0.1, 0.4)}


@AUGMENTS.register
class CombinedAugmentation(Augmentation):
    name = "combined"
    description = "motion, then spatial, then mixup"
    defaults = {**MOTION_DEFAULTS, **SPATIAL_DEFAULTS, "mixup": 0.2}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {
            **_suggest_motion(trial, prefix),
            **_suggest_spatial(trial, prefix),
            "mixup": trial.suggest_float(prefix + "mixup", 0.1, 0.4),
        }

    def transforms(self, params: dict[str, Any]) -> tuple[Spatial | Motion, ...]:
        return (_motion(params), _spatial(params))


@AUGMENTS.register
class CutMixAugmentation(Augmentation):
    name = "cutmix"
    description = "CutMix: a rectangle of each sample's maps pasted from another's, labels mixed by the area"
    defaults = {"alpha": 1.0, "prob": 0.5}

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        return {"alpha": trial.suggest_float(prefix + "alpha", 0.2, 1.0), "prob": trial.suggest_float(prefix + "prob", 0.25, 1.0)}

    def cutmix(self, params: dict[str, Any]) -> CutMix | None:
        return CutMix(float(params["alpha"]), float(params["prob"]))


def build_augmenter(config: Any, mean: dict[str, np.ndarray], std: dict[str, np.ndarray], device: torch.device) -> Augmenter:
    """The augmenter of a pipeline config, for streams standardised with per-channel ``mean`` and ``std``."""
    policy, params = AUGMENTS.resolved(config.augment)
    as_tensor = lambda values: {k: torch.from_numpy(v).to(device).view(1, -1, 1, 1) for k, v in values.items()}  # noqa: E731
    return policy.build(params, stream_layouts(config), as_tensor(mean), as_tensor(std))
