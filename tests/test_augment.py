"""Augmentation is flow-aware, acts on training batches only and never at prediction."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import random_eval_data

from merauto.data.streams import StreamLayout
from merauto.evaluator.augment import AUGMENTS, Augmenter, CutMix, Motion, Spatial, carry_vectors
from merauto.evaluator.engine import Member, ModelSet
from merauto.pipeline.config import Choice
from merauto.search_space.presets import PRESETS

FLOW = StreamLayout(("u", "v", "strain"))


def _identity_stats(channels: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return {"flow": torch.zeros(1, channels, 1, 1)}, {"flow": torch.ones(1, channels, 1, 1)}


def test_a_horizontal_flip_of_a_flow_map_negates_u() -> None:
    torch.manual_seed(0)
    flow = torch.randn(1, 3, 9, 11).repeat(16, 1, 1, 1)
    mean, std = _identity_stats(3)
    augmenter = Augmenter({"flow": FLOW}, mean, std, (Spatial(flip=True, rotate=0.0, crop=1.0, brightness=0.0, contrast=0.0),))
    out = augmenter({"flow": flow}, torch.zeros(16, dtype=torch.long)).inputs["flow"]
    mirrored = flow.flip(-1) * torch.tensor([-1.0, 1.0, 1.0]).view(1, 3, 1, 1)
    flipped = [torch.allclose(o, m, atol=1e-5) for o, m in zip(out, mirrored, strict=True)]
    kept = [torch.allclose(o, f, atol=1e-5) for o, f in zip(out, flow, strict=True)]
    assert all(a or b for a, b in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def test_rotation_and_zoom_turn_and_scale_the_flow_vectors() -> None:
    angle, scale = math.radians(30), 1.5
    linear = scale * torch.tensor([[[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]])
    roles = ("u", "v", "magnitude", "orientation", "strain")
    x = torch.stack([torch.ones(4, 4), torch.zeros(4, 4), torch.ones(4, 4), torch.zeros(4, 4), torch.full((4, 4), 0.3)])[None]
    out = carry_vectors(x, roles, linear)[0]
    assert torch.allclose(out[0], torch.full((4, 4), scale * math.cos(angle)))
    assert torch.allclose(out[1], torch.full((4, 4), scale * math.sin(angle)))
    assert torch.allclose(out[2], torch.full((4, 4), scale)) and torch.allclose(out[3], torch.full((4, 4), angle))
    assert torch.allclose(out[4], x[0, 4])  # strain is invariant


def test_magnification_ratio_jitter_scales_motion_from_the_reference_frame() -> None:
    torch.manual_seed(1)
    layout = StreamLayout(("grey",), frames=4, reference=True, evenly_spaced=True)
    clips = torch.rand(5, 4, 6, 6)
    out = Motion(ratio=2.0, temporal=0.0)(clips, layout, layout.frame_roles())
    assert torch.allclose(out[:, 0], clips[:, 0])
    ratio = (out[:, 1:] - out[:, :1]) / (clips[:, 1:] - clips[:, :1])
    per_clip = ratio.flatten(1)
    assert torch.allclose(per_clip, per_clip[:, :1].expand_as(per_clip), atol=1e-3)
    assert ((per_clip[:, 0] >= 0.5 - 1e-4) & (per_clip[:, 0] <= 2.0 + 1e-4)).all()


def test_mixup_mixes_inputs_and_labels_with_one_weight() -> None:
    torch.manual_seed(2)
    mean, std = _identity_stats(3)
    x, y = torch.randn(8, 3, 4, 4), torch.arange(8) % 3
    batch = Augmenter({"flow": FLOW}, mean, std, mixup=0.4)({"flow": x}, y)
    (lam, first), (rest, second) = batch.targets
    assert abs(lam + rest - 1) < 1e-9 and torch.equal(first, y)
    partner = _partner(x, batch.inputs["flow"], lam)
    assert torch.equal(second, y[partner])
    assert torch.allclose(batch.inputs["flow"], lam * x + rest * x[partner], atol=1e-5)


def _partner(x: torch.Tensor, mixed: torch.Tensor, lam: float) -> torch.Tensor:
    """For each mixed row, the row of ``x`` it was mixed with."""
    residual = (mixed - lam * x).flatten(1)
    candidates = (1 - lam) * x.flatten(1)
    return torch.cdist(residual, candidates).argmin(dim=1)


def test_cutmix_pastes_one_rectangle_of_the_partners_maps_and_mixes_labels_by_its_area() -> None:
    mean, std = _identity_stats(3)
    layouts = {"flow": FLOW, "hist": StreamLayout(vector=True)}
    augmenter = Augmenter(layouts, {**mean, "hist": torch.zeros(1, 5)}, {**std, "hist": torch.ones(1, 5)}, cutmix=CutMix(1.0, 1.0))
    x, hist, y = torch.randn(8, 3, 12, 10), torch.randn(8, 5), torch.arange(8)
    pasted = 0
    for seed in range(10):
        torch.manual_seed(seed)
        batch = augmenter({"flow": x, "hist": hist}, y)
        (lam, first), (rest, second) = batch.targets
        assert lam + rest == 1 and torch.equal(first, y)
        partner, out = second, batch.inputs["flow"]  # labels are the row numbers: the partner of each row
        box = (out != x).any(dim=0).any(dim=0)  # the pixels pasted into some sample
        rows, cols = box.any(dim=1), box.any(dim=0)
        assert torch.equal(box, rows[:, None] & cols[None, :])  # one rectangle
        assert abs(rest - box.sum().item() / box.numel()) < 1e-9  # the partner's weight is the pasted area
        assert torch.equal(out[:, :, ~box], x[:, :, ~box])  # outside the box: untouched
        assert torch.equal(out[:, :, box], x[partner][:, :, box])  # inside: the partner's values
        torch.testing.assert_close(batch.inputs["hist"], lam * hist + rest * hist[partner])  # a vector: mixed with the same weight
        pasted += bool(box.any())
    assert pasted >= 5
    only_vectors = augmenter({"hist": hist}, y)
    assert only_vectors.targets == [(1.0, y)] and torch.equal(only_vectors.inputs["hist"], hist)  # nothing to paste into


@pytest.mark.parametrize("policy", ["combined", "cutmix"])
def test_augmentation_acts_in_training_and_never_at_prediction(policy: str) -> None:
    data = random_eval_data()
    rows = np.arange(24)
    config = replace(PRESETS["ststnet"], augment=Choice(policy, AUGMENTS.get(policy).resolve({})))
    augmented = ModelSet(config, data.inputs, data.labels, [Member(rows, 0)], 3, torch.device("cpu"))
    plain = ModelSet(PRESETS["ststnet"], data.inputs, data.labels, [Member(rows, 0)], 3, torch.device("cpu"))
    (first,), (second,) = augmented.predict_proba([0], [rows]), augmented.predict_proba([0], [rows])
    assert np.array_equal(first, second) and np.array_equal(first, plain.predict_proba([0], [rows])[0])
    augmented.train_epoch([True])
    plain.train_epoch([True])
    assert not np.array_equal(augmented.predict_proba([0], [rows])[0], plain.predict_proba([0], [rows])[0])
