"""Shared fixtures: a tiny synthetic dataset and native-layout copies of the licensed datasets,
generated once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from native_layouts import write_native_root, write_ststnet
from postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures for every test module

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import inputs_for
from merauto.data.inputs import INPUTS
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import StreamSpec
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.nested import EvalData
from merauto.evaluator.protocol import outer_loso
from merauto.orchestrator.ray_session import open_ray
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.presets import PRESETS

TINY = DatasetRequest("synthetic", SyntheticSpec(size="tiny"))

# The models under test are tiny: one thread is fastest and immune to other processes' load.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps what merauto prints at 80 columns when it is not on a terminal, breaking a long temporary
    path anywhere (``clips.c sv``), so a message would read differently under each temporary folder: tests
    read messages whole. (Tests of narrow output give their console its width.)"""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("merauto-cache")


@pytest.fixture(scope="session")
def tiny_index(cache_dir: Path) -> SampleIndex:
    return load_index(TINY, cache_dir)


@pytest.fixture(scope="session")
def native_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 442 composite clips (and a few outside it) in the native CASME II, SAMM and SMIC-HS layouts."""
    return write_native_root(tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="session")
def ststnet_features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 442 STSTNet flow+strain PNGs, flat, names with the space before .png."""
    return write_ststnet(tmp_path_factory.mktemp("ststnet"))


@pytest.fixture(scope="session")
def tiny_flow(tiny_index: SampleIndex, cache_dir: Path) -> EvalData:
    """Flow+strain inputs of the tiny dataset, as the evaluator reads them."""
    return EvalData.of(tiny_index, inputs_for(PRESETS["ststnet"], tiny_index, FeatureCache(cache_dir)))


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray for every search of a module that asks for it (each search uses a Ray already started as it is)."""
    session = open_ray(None, log_dir=tmp_path_factory.mktemp("ray-logs"))
    yield
    session.close()


def input_streams(name: str, params: dict | None = None) -> dict[str, StreamSpec]:
    """The streams of input ``name`` with ``params`` (default: its defaults), without preprocessing."""
    kind = INPUTS.get(name)
    return kind.streams(kind.resolve(params or {}))


def random_eval_data(n_subjects: int = 6, per_subject: int = 6, seed: int = 0) -> EvalData:
    """Small random inputs with a learnable signal, for fast evaluator tests."""
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    labels = np.tile(np.arange(3), n // 3 + 1)[:n]
    rng.shuffle(labels)
    x = rng.normal(0, 1, (n, 3, 12, 12)).astype(np.float32)
    x[:, 0] += labels[:, None, None] * 0.8
    subjects = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per_subject)
    sources = np.where(np.arange(n) % 2 == 0, "a", "b")
    ids = np.array([f"id{i}" for i in range(n)])
    return EvalData({"flow": x}, labels.astype(np.int64), subjects, sources, ids, ("negative", "positive", "surprise"))


def assert_vmap_matches_loop(config: PipelineConfig, data: EvalData | None = None) -> None:
    """Two epochs of three members trained both ways give the same predictions."""
    data = data or random_eval_data(n_subjects=3)
    folds = outer_loso(data.subjects)
    members = [Member(train, 10 + k) for k, (train, _) in enumerate(folds)]
    predictions = {}
    for mode in ("loop", "vmap"):
        models = ModelSet(config, data.inputs, data.labels, members, 3, torch.device("cpu"), mode)
        models.train_epoch([True, True, False])
        models.train_epoch([True, False, True])
        predictions[mode] = models.predict_proba(list(range(len(folds))), [test for _, test in folds])
    for loop, vmap in zip(predictions["loop"], predictions["vmap"], strict=True):
        np.testing.assert_allclose(loop, vmap, atol=2e-3)
