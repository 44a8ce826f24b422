"""The built-in synthetic dataset: deterministic, composite-shaped, micro-amplitude motion."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from merauto.data.synthetic.generator import (
    SyntheticSpec,
    _subject_traits,
    composite_skeleton,
    ensure_generated,
    generate,
    render_clip,
    sampled_skeleton,
)


def _frame_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.jpg"))[:40]}


def test_generation_is_deterministic_and_seeded(tmp_path: Path) -> None:
    spec = SyntheticSpec(size="tiny", seed=3)
    a, b = generate(spec, tmp_path / "a"), generate(spec, tmp_path / "b")
    assert a.read_text() == b.read_text()
    assert _frame_bytes(a.parent) == _frame_bytes(b.parent)
    other = generate(SyntheticSpec(size="tiny", seed=4), tmp_path / "c")
    assert _frame_bytes(other.parent) != _frame_bytes(a.parent)


def test_composite_skeleton_matches_megc2019() -> None:
    plans = composite_skeleton()
    assert len(plans) == 442
    assert len({p.subject for p in plans}) == 68
    assert Counter(p.label for p in plans) == {"negative": 250, "positive": 109, "surprise": 83}
    assert Counter(p.dataset for p in plans) == {"smic": 164, "casme2": 145, "samm": 133}


def test_small_has_a_dozen_subjects_in_three_sources_with_every_class() -> None:
    plans = sampled_skeleton("small", 0)
    assert len({p.subject for p in plans}) == 12
    for source in ("casme2", "samm", "smic"):
        labels = Counter(p.label for p in plans if p.dataset == source)
        assert set(labels) == {"negative", "positive", "surprise"} and min(labels.values()) >= 3


def test_apex_displacement_is_micro_and_localised() -> None:
    spec = SyntheticSpec(jitter=0.0, noise=0.0)  # without distractors, only the expression moves
    plan = next(p for p in sampled_skeleton("small", 0) if p.label == "positive" and p.dataset == "casme2")
    traits = _subject_traits(spec, plan.dataset, plan.subject)
    clip = render_clip(spec, plan, traits, clip_seed=0)
    assert clip.onset < clip.apex < clip.offset == len(clip.frames) - 1
    import cv2

    onset = cv2.cvtColor(clip.frames[clip.onset], cv2.COLOR_BGR2GRAY)
    apex = cv2.cvtColor(clip.frames[clip.apex], cv2.COLOR_BGR2GRAY)
    flow = cv2.calcOpticalFlowFarneback(onset, apex, None, 0.5, 3, 15, 5, 5, 1.1, 0)
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    mouth = magnitude[80:100, 30:98].max()  # positive: lip corners move
    assert 0.3 < mouth < 3.5, "apex displacement should be micro (about 0.5-2 px)"
    assert np.median(magnitude) < 0.5, "most of the face stays still"


def test_fps_and_apex_annotation_follow_the_source_domains(tmp_path: Path) -> None:
    manifest = generate(SyntheticSpec(size="tiny"), tmp_path / "d")
    rows = list(csv.DictReader(manifest.open()))
    for row in rows:
        assert float(row["fps"]) == (100.0 if row["dataset"] == "smic" else 200.0)
        assert (row["apex"] == "") == (row["dataset"] == "smic")
    samm_frame = next((tmp_path / "d" / rows[0]["frames_dir"]).parent.parent.parent.glob("samm/*/*/*.jpg"))
    assert cv2_channels(samm_frame) == 1


def cv2_channels(path: Path) -> int:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return 1 if image.ndim == 2 else image.shape[2]


def test_ensure_generated_writes_once_and_leaves_no_partial_folder(tmp_path: Path) -> None:
    spec = SyntheticSpec(size="tiny", seed=9)
    first = ensure_generated(spec, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert ensure_generated(spec, tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert not [p for p in (tmp_path / "synthetic").iterdir() if p.name.startswith(".partial")]


def test_bad_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        SyntheticSpec(size="huge")
    with pytest.raises(ValueError, match="amplitude"):
        SyntheticSpec(amplitude=-1)
