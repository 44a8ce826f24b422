"""Inputs are computed once per content and preprocessing parameters, and written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from conftest import input_streams

from merauto.data.cache import FeatureCache, content_key
from merauto.data.features import FeatureBuilder
from merauto.data.manifest import load_manifest
from merauto.data.sample_index import COMPOSITE_CLASSES, SampleIndex
from merauto.data.streams import StreamSpec


def test_second_build_recomputes_nothing(tiny_index: SampleIndex, tmp_path: Path) -> None:
    first = FeatureBuilder(tiny_index, FeatureCache(tmp_path))
    a = first.streams(input_streams("flow_apex"))
    assert first.stats.computed == 2 * len(tiny_index) and first.stats.cached == 0
    second = FeatureBuilder(tiny_index, FeatureCache(tmp_path))  # a new process would start like this
    b = second.streams(input_streams("flow_apex"))
    assert second.stats.computed == 0 and second.stats.cached == 2 * len(tiny_index)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["flow"].shape == (len(tiny_index), 3, 28, 28) and a["apex"].shape == (len(tiny_index), 1, 28, 28)


def test_parameters_and_content_are_part_of_the_key(tiny_index: SampleIndex, tmp_path: Path) -> None:
    builder = FeatureBuilder(tiny_index, FeatureCache(tmp_path))
    builder.stream(StreamSpec.of("apex_frame", size=28))
    builder.stream(StreamSpec.of("apex_frame", size=16))
    assert builder.stats.computed == 2 * len(tiny_index)

    # Change one frame's content: only that sample is recomputed.
    root = tiny_index.samples[0].frames[0].parents[3]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    index = load_manifest(copy / "manifest.csv", "copy", COMPOSITE_CLASSES)
    victim = index.samples[0]
    apex = victim.apex if victim.apex is not None else 0
    frame = victim.frames[apex]
    frame.write_bytes(tiny_index.samples[1].frames[0].read_bytes())
    again = FeatureBuilder(index, FeatureCache(tmp_path))
    again.stream(StreamSpec.of("apex_frame", size=28))
    assert again.stats.computed == 1 and again.stats.cached == len(index) - 1


def test_atomic_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    key = content_key("x", 1)
    cache.save(key, np.arange(6).reshape(2, 3))
    assert np.array_equal(cache.load(key), np.arange(6).reshape(2, 3))
    assert [p.name for p in cache.path(key).parent.iterdir()] == [f"{key}.npy"]
    assert cache.load(content_key("missing")) is None
    cache.save(content_key("scalar"), np.array(7))
    assert int(cache.load(content_key("scalar"))) == 7
