"""STSTNet's precomputed flow+strain PNGs: the composite's 442 ids, read as the flow_strain input."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from conftest import input_streams
from native_layouts import write_ststnet
from rich.console import Console

from merauto.data.cache import FeatureCache
from merauto.data.checks import findings as kinds
from merauto.data.datasets import DatasetRequest, load_dataset
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.errors import MerautoError
from merauto.evaluator.nested import EvalData, evaluate_trial
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.study import enqueue_presets
from merauto.results.export.pipeline import export_pipeline
from merauto.results.run_dir import RunInfo
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import SpaceContext, define_by_run, resolve, runnable_inputs

FLOW_ONLY = frozenset({"flow_strain"})


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread, as a search's trial gets with --cpus-per-trial 1 (shared CPUs thrash with more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_features_load_to_the_same_442_ids_as_the_videos(ststnet_features: Path, native_root: Path, tmp_path: Path) -> None:
    features = load_dataset(DatasetRequest("composite", features=ststnet_features), tmp_path)
    frames = load_dataset(DatasetRequest("composite", data_root=native_root), tmp_path)
    assert sorted(features.index.ids) == sorted(frames.index.ids) and len(features.index) == 442
    assert features.index.summary() == frames.index.summary()
    assert features.index.precomputed == FLOW_ONLY and frames.index.precomputed is None
    assert not features.findings and "flat" in features.origins["composite"] and "442 of 442" in features.origins["composite"]
    assert features.index.name == "composite-features"


def test_loso_arranged_copy_reads_each_image_once(ststnet_features: Path, tmp_path: Path) -> None:
    loso = write_ststnet(tmp_path / "loso", loso=True)
    loaded = load_dataset(DatasetRequest("composite", features=loso), tmp_path)
    flat = load_dataset(DatasetRequest("composite", features=ststnet_features), tmp_path)
    assert list(loaded.index.ids) == list(flat.index.ids)
    assert all("u_test" in s.precomputed["flow_strain"].parts for s in loaded.index)
    assert "LOSO-arranged" in loaded.origins["composite"]


def test_precomputed_files_are_the_flow_strain_stream(ststnet_features: Path, tmp_path: Path, one_thread: None) -> None:
    index = load_dataset(DatasetRequest("composite", features=ststnet_features), tmp_path).index
    builder = FeatureBuilder(index, FeatureCache(tmp_path))
    flow = builder.streams(input_streams("flow_strain"))["flow"]
    assert flow.shape == (442, 3, 28, 28) and flow.dtype == np.float32
    assert np.all(flow[:, 2] == 10) and flow[:, :2].std() > 10  # RGB order: u, v, strain
    with pytest.raises(MerautoError, match="no precomputed 'apex_frame'"):
        builder.streams(input_streams("apex"))

    config = resolve(dataclasses.replace(PRESETS["ststnet"], training=dataclasses.replace(PRESETS["ststnet"].training, max_epochs=2)))
    data = EvalData({"flow": flow}, index.labels, index.subjects, index.sources, index.ids, index.classes)
    (fold,) = evaluate_trial(config, data, EvaluationSettings(), rungs=[[0]]).folds
    assert len(fold.test.ids) == int((index.subjects == fold.test.test_group).sum()) and len(fold.selection.inner_curve) == 2


def test_a_missing_png_is_an_error_naming_the_file(ststnet_features: Path, tmp_path: Path) -> None:
    copy = tmp_path / "features"
    shutil.copytree(ststnet_features, copy)
    (copy / "006_006_1_2 .png").unlink()
    (copy / "notes .png").write_bytes((copy / "sub01_EP02_01f .png").read_bytes())
    loaded = load_dataset(DatasetRequest("composite", features=copy), tmp_path)
    (error,) = loaded.errors
    assert error.kind == kinds.MISSING_FILE and "'006_006_1_2 .png'" in error.message and str(copy) in error.message
    assert [f.kind for f in loaded.warnings] == [kinds.EXTRA_FILE]
    with pytest.raises(MerautoError, match="006_006_1_2 .png"):
        loaded.require()


def test_features_restrict_the_space_to_inputs_they_hold() -> None:
    flow_only = SpaceContext(precomputed=FLOW_ONLY)
    assert runnable_inputs(flow_only) == ["flow_strain"] and runnable_inputs(None) == INPUTS.names()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert enqueue_presets(study, context=flow_only) == ["ststnet", "off_apexnet", "dual_inception", "rcn"]
    first = study.ask()
    assert resolve(define_by_run(first, flow_only)) == resolve(PRESETS["ststnet"])
    study.tell(first, 0.0)
    for _ in range(20):
        trial = study.ask()
        config = define_by_run(trial, flow_only)
        assert config.input.name == "flow_strain" and not any(k.startswith("input.") for k in trial.params)
        study.tell(trial, 0.0)
    assert enqueue_presets(optuna.create_study(), context=SpaceContext(precomputed=frozenset())) == []


def test_a_search_on_precomputed_inputs_is_not_exported_for_frames(ststnet_features: Path, tmp_path: Path) -> None:
    info = RunInfo("composite-features", "sqlite://", DatasetRequest("composite", features=ststnet_features), EvaluationSettings())
    info.save(tmp_path)
    with pytest.raises(MerautoError, match="precomputed inputs") as error:
        export_pipeline(tmp_path, trial=None, out_dir=None, cache_dir=tmp_path, console=Console())
    assert "--data-root" in error.value.fix


def test_sources_keep_a_subset_of_the_composite(ststnet_features: Path, native_root: Path, tmp_path: Path) -> None:
    """``--sources casme2,smic`` reads only those sources' clips, from features or frames, and names itself so."""
    partial = tmp_path / "casme2-smic"
    partial.mkdir()
    for png in ststnet_features.iterdir():
        if not png.name[0].isdigit():  # SAMM's subjects are numbers: leave them out, as ../real-dev does
            shutil.copy(png, partial / png.name)
    whole = load_dataset(DatasetRequest("composite", features=partial), tmp_path)
    assert {f.source for f in whole.errors} == {"samm"}  # without --sources the missing SAMM part is refused
    request = DatasetRequest("composite", features=partial, sources=("smic", "casme2"))
    features = load_dataset(request, tmp_path)
    assert not features.errors and set(features.index.sources) == {"casme2", "smic"}
    every = load_dataset(DatasetRequest("composite", features=ststnet_features), tmp_path).index
    assert len(features.index) == sum(s.dataset != "samm" for s in every)
    assert request.sources == ("casme2", "smic") and request.label() == "composite-features-casme2+smic"
    assert DatasetRequest.from_json(request.to_json()) == request
    frames = load_dataset(DatasetRequest("composite", data_root=native_root, sources=("samm",)), tmp_path)
    assert set(frames.index.sources) == {"samm"} and len(frames.index) == 133 and set(frames.expected) == {"samm"}


@pytest.mark.parametrize(
    ("dataset", "sources", "message"),
    [
        ("composite", ("casme",), "'casme' is not a source dataset of the composite"),
        ("composite", (), "names no source dataset"),
        ("synthetic", ("smic",), "not of --dataset synthetic"),
    ],
)
def test_bad_sources_are_refused_with_the_valid_names(dataset: str, sources: tuple[str, ...], message: str) -> None:
    with pytest.raises(MerautoError, match=message) as refused:
        DatasetRequest(dataset, sources=sources)
    expected_fix = "casme2, samm, smic" if dataset == "composite" else "drop --sources"
    assert expected_fix in (refused.value.fix or "")
