"""Explanation maps: Integrated Gradients per class and stream, drawn over the class-mean input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from commands import merauto
from torch import Tensor, nn

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.errors import MerautoError
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.model import build_model
from merauto.evaluator.nested import EvalData
from merauto.results.export.pipeline import ExportedPipeline
from merauto.results.report.explain import ClassMaps, chosen_clips, class_attributions, explain_export, explanation_figure
from merauto.results.run_dir import load_run
from merauto.search_space.presets import PRESETS

CLASSES = ("negative", "positive", "surprise", "other")


@pytest.fixture(scope="module")
def ststnet(tiny_flow: EvalData) -> ExportedPipeline:
    """STSTNet trained on every tiny clip for three epochs, as an export holds it."""
    config = PRESETS["ststnet"]
    models = ModelSet(config, tiny_flow.inputs, tiny_flow.labels, [Member(np.arange(len(tiny_flow.labels)), 0)], 3, torch.device("cpu"))
    for _ in range(3):
        models.train_epoch([True])
    model = build_model(config, {name: a.shape[1:] for name, a in tiny_flow.inputs.items()}, 3)
    model.load_state_dict(models.state_dict(0))
    return ExportedPipeline(config, tiny_flow.classes, model.eval(), models.standardisers[0], {})


class _Reader(nn.Module):
    """A linear model that reads channel 0 of the top half of ``flow``, the left half of ``frames``
    and node 0 of ``graph``: everything else has no effect on its logits."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weights = {
            "flow": torch.zeros(n_classes, 3, 8, 8),
            "frames": torch.zeros(n_classes, 4, 2, 8, 8),
            "graph": torch.zeros(n_classes, 5, 3),
        }
        self.weights["flow"][:, 0, :4] = torch.randn(n_classes, 4, 8, generator=generator)
        self.weights["frames"][..., :4] = torch.randn(n_classes, 4, 2, 8, 4, generator=generator)
        self.weights["graph"][:, 0] = torch.randn(n_classes, 3, generator=generator)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        return sum((x.unsqueeze(1) * self.weights[name]).flatten(2).sum(2) for name, x in inputs.items())


@pytest.fixture(scope="module")
def reader() -> tuple[ExportedPipeline, dict[str, np.ndarray], np.ndarray]:
    """The linear reader of 3 of 4 classes, with image, sequence and graph streams of 15 clips (class 3 has none)."""
    rng = np.random.default_rng(1)
    inputs = {
        "flow": rng.normal(1.0, 2.0, (15, 3, 8, 8)).astype(np.float32),
        "frames": rng.normal(0.0, 1.0, (15, 4, 2, 8, 8)).astype(np.float32),
        "graph": rng.normal(-1.0, 0.5, (15, 5, 3)).astype(np.float32),
    }
    labels = np.tile(np.arange(3), 5)
    standardiser = Standardiser.fit(inputs, np.arange(15))
    return ExportedPipeline(PRESETS["ststnet"], CLASSES, _Reader(len(CLASSES)), standardiser, {}), inputs, labels


def test_clips_per_class_are_evenly_spaced_and_capped() -> None:
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    chosen = chosen_clips(labels, 3, max_per_class=3)
    assert [c.tolist() for c in chosen] == [[0, 3, 7], [1, 4], []]
    assert [c.tolist() for c in chosen_clips(labels, 3, max_per_class=3)] == [c.tolist() for c in chosen], "the same clips every time"


def test_a_trained_model_gets_finite_non_negative_maps_per_class(ststnet: ExportedPipeline, tiny_flow: EvalData) -> None:
    maps = class_attributions(ststnet, tiny_flow.inputs, tiny_flow.labels, n_steps=8, max_per_class=5)
    counts = np.bincount(tiny_flow.labels, minlength=3)
    assert maps.classes == tiny_flow.classes and maps.clips == tuple(min(int(c), 5) for c in counts)
    (flow,) = maps.streams.values()
    assert flow.image and flow.attribution.shape == flow.background.shape == (3, 28, 28)
    for array in (flow.attribution, flow.background):
        assert np.isfinite(array).all() and (array >= 0).all()
        assert (array.reshape(3, -1).max(axis=1) > 0).all(), "every class has some evidence and some motion"


def test_attribution_is_integrated_gradients_of_the_own_label_and_zero_where_the_model_does_not_read(
    reader: tuple[ExportedPipeline, dict[str, np.ndarray], np.ndarray],
) -> None:
    pipeline, inputs, labels = reader
    maps = class_attributions(pipeline, inputs, labels, n_steps=4, max_per_class=4)
    assert maps.classes == CLASSES[:3] and maps.clips == (4, 4, 4), "a class without clips is left out"
    flow, frames, graph = maps.streams["flow"], maps.streams["frames"], maps.streams["graph"]
    assert flow.attribution.shape == frames.attribution.shape == frames.background.shape == (3, 8, 8)
    assert not graph.image and graph.attribution.shape == (3, 15)
    assert (flow.attribution[:, 4:] == 0).all() and (flow.attribution[:, :4] > 0).all()
    assert (frames.attribution[..., 4:] == 0).all() and (frames.attribution[..., :4] > 0).all()
    assert (graph.attribution[:, 3:] == 0).all() and (graph.attribution[:, :3] > 0).all()

    # a linear model's integrated gradients from the mean are exactly weight x standardised input
    for k, rows in enumerate(chosen_clips(labels, 3, 4)):
        z = (inputs["flow"][rows] - pipeline.standardiser.mean["flow"][:, None, None]) / pipeline.standardiser.std["flow"][:, None, None]
        expected = np.abs(pipeline.model.weights["flow"][k].numpy() * z).sum(axis=1).mean(axis=0)
        np.testing.assert_allclose(flow.attribution[k], expected, rtol=1e-4, atol=1e-6)
        magnitude = np.sqrt((inputs["frames"][rows] ** 2).sum(axis=2)).mean(axis=1).mean(axis=0)
        np.testing.assert_allclose(frames.background[k], magnitude, rtol=1e-5)


def test_the_figure_has_a_cell_per_stream_and_class_and_every_trace_holds_data(
    reader: tuple[ExportedPipeline, dict[str, np.ndarray], np.ndarray],
) -> None:
    pipeline, inputs, labels = reader
    maps = class_attributions(pipeline, inputs, labels, n_steps=2, max_per_class=2)
    figure = explanation_figure(maps)
    cells = {(stream, c) for stream in maps.streams for c in maps.classes}
    assert {trace.name.rsplit(" ", 1)[0] if trace.type == "heatmap" else trace.name for trace in figure.data} == {
        f"{s} · {c}" for s, c in cells
    }
    assert len(figure.data) == 3 * (2 + 2 + 1), "a grey input and an attribution per map, a bar chart per vector"
    for trace in figure.data:
        values = np.asarray(trace.z if trace.type == "heatmap" else trace.y, dtype=float)
        assert values.size and np.isfinite(values).all(), trace.name
    titles = [a.text for a in figure.layout.annotations]
    assert "flow · negative (2 clips)" in titles and len(titles) == len(cells)
    assert figure.layout.yaxis.scaleanchor == "x" and figure.layout.yaxis.showticklabels is False
    figure.to_json()


def test_without_captum_the_error_names_the_extra(
    reader: tuple[ExportedPipeline, dict[str, np.ndarray], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # `from captum.attr import ...` now fails
    pipeline, inputs, labels = reader
    with pytest.raises(MerautoError) as raised:
        class_attributions(pipeline, inputs, labels)
    assert "captum" in raised.value.problem and "pip install 'merauto[explain]'" in raised.value.fix


@pytest.mark.slow
def test_an_export_is_explained_on_its_training_clips_and_another_dataset_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    search = ["search", "--synthetic-size", "tiny", "--max-epochs", "3", "--budget", "1", "--seed-presets", "--max-concurrent", "1"]
    merauto(*search, "--run-dir", str(run_dir), cache=cache_dir)
    merauto("export", str(run_dir), cache=cache_dir)
    (export_dir,) = (run_dir / "export").iterdir()

    maps = explain_export(export_dir, cache_dir, load_run(run_dir).dataset, n_steps=4, max_per_class=3)
    assert isinstance(maps, ClassMaps) and maps.classes == ExportedPipeline.load(export_dir).classes
    assert set(maps.streams) == {"flow"} and maps.streams["flow"].attribution.shape == (len(maps.classes), 28, 28)
    assert np.isfinite(maps.streams["flow"].attribution).all() and maps.streams["flow"].attribution.max() > 0

    with pytest.raises(MerautoError, match="was trained on synthetic-tiny"):
        explain_export(export_dir, cache_dir, DatasetRequest("synthetic", SyntheticSpec(size="small")))
