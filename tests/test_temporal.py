"""Temporal trunks of sequence streams: frames are taken apart in the stream's layout order, every
kind builds and trains, and the engine's vmap and loop modes agree on it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import random_eval_data

from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.model import build_model
from merauto.evaluator.protocol import outer_loso
from merauto.evaluator.temporal import TEMPORAL_TRUNKS, unstack
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.search_space.presets import PRESETS

FRAMES = 4


def _sequence_config(temporal: str) -> PipelineConfig:
    return replace(
        PRESETS["ststnet"],
        input=Choice("sequence", {"size": 12, "frames": FRAMES, "temporal": temporal}),
        topology=Choice("stacked", {"depth": 1, "width": 4}),
        training=replace(PRESETS["ststnet"].training, batch_size=8),
    )


def test_unstack_follows_the_frame_major_layout_of_each_region() -> None:
    regions, roles = 2, 3
    channel = torch.arange(regions * FRAMES * roles, dtype=torch.float32)  # region-major, then frame, then role
    x = channel.view(1, -1, 1, 1)
    frames = unstack(x, FRAMES, roles)
    assert frames.shape == (1, FRAMES, regions * roles, 1, 1)
    for t in range(FRAMES):
        expected = [r * FRAMES * roles + t * roles + k for r in range(regions) for k in range(roles)]
        assert frames[0, t, :, 0, 0].tolist() == expected


@pytest.mark.parametrize("temporal", TEMPORAL_TRUNKS.names())
def test_every_temporal_trunk_trains_the_same_under_vmap_and_loop(temporal: str) -> None:
    config = _sequence_config(temporal)
    model = build_model(config, {"sequence": (FRAMES, 12, 12)}, 3)
    model({"sequence": torch.randn(2, FRAMES, 12, 12)}).sum().backward()
    data = random_eval_data(n_subjects=3)
    inputs = {"sequence": np.repeat(data.inputs["flow"][:, :1], FRAMES, axis=1) + data.inputs["flow"][:, 1:2]}
    folds = outer_loso(data.subjects)
    members = [Member(train, 10 + k) for k, (train, _) in enumerate(folds)]
    predictions = {}
    for mode in ("loop", "vmap"):
        models = ModelSet(config, inputs, data.labels, members, 3, torch.device("cpu"), mode)
        models.train_epoch([True, False, True])
        predictions[mode] = models.predict_proba(list(range(len(folds))), [test for _, test in folds])
    for loop, vmap in zip(predictions["loop"], predictions["vmap"], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=2e-3)
