"""Explanation maps of an exported pipeline: where on the face each class's evidence lies.

Integrated Gradients (captum) attributes each clip's logit of its own label to every input value,
from a baseline of zeros in standardised space: the training mean of each stream and channel. As
the standardisation is affine, these are also the raw-space attributions from that mean. Image-like
streams are reduced to a 2-D map per class (absolute attribution summed over channels and time,
averaged over the class's clips) drawn over the class's mean input magnitude; other streams to a mean absolute
attribution per feature. The clips are the export's training clips: the maps say what the model
learnt to read, not how it fares on new faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from rich.console import Console
from torch import Tensor, nn

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import inputs_for
from merauto.errors import MerautoError
from merauto.results.export.pipeline import ExportedPipeline, export_pipeline
from merauto.results.run_dir import load_run
from merauto.results.selection import selected_trial
from merauto.results.store import ResultsStore

ROWS_PER_PASS = 256  # clips x integration steps in one forward pass
IMAGE_DIMS = 3  # a clip's stream of (C, H, W) or more dimensions is drawn as a map
BAR_COLOUR = "rgb(230,90,0)"
OVERLAY = [[0.0, "rgba(255,230,0,0)"], [0.4, "rgba(255,160,0,0.45)"], [1.0, "rgba(230,0,0,0.9)"]]  # transparent where nothing is read


@dataclass(frozen=True)
class StreamMaps:
    """One stream's attributions per class: (classes, H, W) maps with the class-mean input magnitude
    (``background``) to draw them over, or (classes, D) per-feature vectors (``background`` None)."""

    attribution: np.ndarray
    background: np.ndarray | None

    @property
    def image(self) -> bool:
        """Whether the stream is drawn as a map."""
        return self.background is not None


@dataclass(frozen=True)
class ClassMaps:
    """Attributions of a pipeline by class: ``clips[k]`` clips of ``classes[k]`` were explained."""

    classes: tuple[str, ...]
    clips: tuple[int, ...]
    streams: dict[str, StreamMaps]


class _TupleModel(nn.Module):
    """The dict-taking model as captum calls it: one tensor per stream, in ``names`` order."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *tensors: Tensor) -> Tensor:
        return self.model(dict(zip(self.names, tensors, strict=True)))


def _integrated_gradients() -> type:
    """captum's IntegratedGradients, or an error naming the extra that installs it."""
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        raise MerautoError(
            "explanation maps need captum, which is not installed", "pip install 'merauto[explain]' (or pip install captum)"
        ) from None
    return IntegratedGradients


def chosen_clips(labels: np.ndarray, n_classes: int, max_per_class: int) -> list[np.ndarray]:
    """Per class, the rows of its clips, at most ``max_per_class`` of them evenly spaced in index order."""
    chosen = []
    for k in range(n_classes):
        rows = np.flatnonzero(labels == k)
        if len(rows) > max_per_class:
            rows = rows[np.linspace(0, len(rows) - 1, max_per_class).round().astype(int)]
        chosen.append(rows)
    return chosen


def _standardised(pipeline: ExportedPipeline, inputs: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[Tensor, ...]:
    """The streams standardised as :meth:`ExportedPipeline.predict_proba` does, in ``names`` order."""
    tensors = []
    for name in names:
        array = inputs[name]
        shape = (1, -1) + (1,) * (array.ndim - 2)
        mean, std = pipeline.standardiser.mean[name].reshape(shape), pipeline.standardiser.std[name].reshape(shape)
        tensors.append(torch.from_numpy(((array - mean) / std).astype(np.float32)))
    return tuple(tensors)


def _attributions(pipeline: ExportedPipeline, x: tuple[Tensor, ...], names: tuple[str, ...], targets: Tensor, n_steps: int) -> list[Tensor]:
    """Integrated Gradients of each row's ``targets`` logit for every stream, a few clips per captum call."""
    pipeline.model.eval()
    method = _integrated_gradients()(_TupleModel(pipeline.model, names))
    clips_per_call = max(1, ROWS_PER_PASS // n_steps)
    parts = []
    for start in range(0, len(targets), clips_per_call):
        span = slice(start, start + clips_per_call)
        batch = tuple(t[span] for t in x)
        baselines = tuple(torch.zeros_like(t) for t in batch)
        with torch.enable_grad():
            attributed = method.attribute(batch, baselines, target=targets[span], n_steps=n_steps, internal_batch_size=ROWS_PER_PASS)
        parts.append(tuple(a.detach() for a in attributed))
    return [torch.cat([p[i] for p in parts]) for i in range(len(names))]


def _class_means(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Per group of positions, the mean of ``values`` over its rows."""
    return np.stack([values[g].mean(axis=0) for g in groups])


def _stream_maps(attribution: np.ndarray, raw: np.ndarray, groups: list[np.ndarray]) -> StreamMaps:
    """A stream's class maps from its per-clip attributions and raw inputs (both (n, ...))."""
    magnitude = np.abs(attribution)
    if raw.ndim - 1 < IMAGE_DIMS:
        return StreamMaps(_class_means(magnitude.reshape(len(magnitude), -1), groups), None)
    summed = magnitude.reshape(len(magnitude), -1, *magnitude.shape[-2:]).sum(axis=1)  # channels (and time) summed
    per_frame = np.sqrt((raw.astype(np.float64) ** 2).sum(axis=-3))  # (n, [T,] H, W): magnitude over channels
    background = per_frame.reshape(len(raw), -1, *raw.shape[-2:]).mean(axis=1)  # mean over time
    return StreamMaps(_class_means(summed, groups), _class_means(background, groups))


def class_attributions(
    pipeline: ExportedPipeline, inputs: dict[str, np.ndarray], labels: np.ndarray, n_steps: int = 16, max_per_class: int = 32
) -> ClassMaps:
    """Integrated Gradients of each clip's own-label logit over all of ``inputs`` (raw streams (N, ...)
    by name, as :func:`~merauto.data.features.inputs_for` gives them) at once, reduced per class.

    At most ``max_per_class`` clips of a class are explained (evenly spaced, so the choice is the same
    every time), each along ``n_steps`` integration steps; classes without a clip are left out.
    """
    names = tuple(sorted(inputs))
    groups = chosen_clips(np.asarray(labels), len(pipeline.classes), max_per_class)
    present = [k for k, g in enumerate(groups) if len(g)]
    if not present:
        raise MerautoError("no clips to explain: the labels are empty", "pass the inputs and labels of at least one clip")
    rows = np.concatenate([groups[k] for k in present])
    positions = np.split(np.arange(len(rows)), np.cumsum([len(groups[k]) for k in present])[:-1])  # each class's, among ``rows``
    chosen = {name: np.ascontiguousarray(inputs[name][rows]) for name in names}
    targets = torch.from_numpy(np.asarray(labels)[rows].astype(np.int64))
    attributed = _attributions(pipeline, _standardised(pipeline, chosen, names), names, targets, n_steps)
    streams = {name: _stream_maps(a.numpy(), chosen[name], positions) for name, a in zip(names, attributed, strict=True)}
    return ClassMaps(tuple(pipeline.classes[k] for k in present), tuple(len(groups[k]) for k in present), streams)


def explain_export(export_dir: Path, cache_dir: Path, dataset: DatasetRequest, n_steps: int = 16, max_per_class: int = 32) -> ClassMaps:
    """:func:`class_attributions` of the pipeline exported to ``export_dir`` on the clips it was trained on.

    ``dataset`` is the request of the run it was exported from (``load_run(run_dir).dataset``); its
    inputs are computed through the feature cache in ``cache_dir``, as the export computed them.
    A dataset other than the one the export records is refused.
    """
    pipeline = ExportedPipeline.load(export_dir)
    trained = pipeline.metadata.get("trained_on", {})
    _require_match(export_dir, trained.get("dataset", dataset.label()), dataset.label())
    index = load_index(dataset, cache_dir)
    expected = f"{trained.get('clips', len(index))} clips of {', '.join(pipeline.classes)}"
    _require_match(export_dir, expected, f"{len(index)} clips of {', '.join(index.classes)}")
    inputs = inputs_for(pipeline.config, index, FeatureCache(cache_dir))
    return class_attributions(pipeline, inputs, index.labels, n_steps, max_per_class)


def _require_match(export_dir: Path, trained: str, given: str) -> None:
    """Refuse a dataset that is not the one the export was trained on."""
    if trained != given:
        raise MerautoError(
            f"{export_dir} was trained on {trained}, not on the dataset given ({given})",
            "pass the dataset of the run the pipeline was exported from: load_run(run_dir).dataset",
        )


def _axis_anchor(axis: go.layout.XAxis) -> str:
    """The name a trace or another axis refers to ``axis`` by (``xaxis3`` -> ``x3``)."""
    return axis.plotly_name.replace("axis", "")


def _add_image(figure: go.Figure, maps: StreamMaps, k: int, cell: tuple[int, int], label: str) -> None:
    """Class ``k``'s mean input in grey with its attribution over it, in subplot ``cell`` (row, col)."""
    row, col = cell
    top = float(maps.attribution.max()) or 1.0  # one scale per stream, so classes compare
    figure.add_trace(
        go.Heatmap(z=maps.background[k], colorscale="gray", showscale=False, hoverinfo="skip", name=f"{label} input"), row=row, col=col
    )
    subplot = figure.get_subplot(row, col)
    last = col == len(maps.attribution)
    colorbar = {"title": {"text": "|IG|"}, "y": sum(subplot.yaxis.domain) / 2, "len": subplot.yaxis.domain[1] - subplot.yaxis.domain[0]}
    figure.add_trace(
        go.Heatmap(
            z=maps.attribution[k], zmin=0.0, zmax=top, colorscale=OVERLAY, showscale=last, colorbar=colorbar, name=f"{label} attribution"
        ),
        row=row,
        col=col,
    )
    figure.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain", row=row, col=col)
    figure.update_yaxes(
        showticklabels=False,
        ticks="",
        showgrid=False,
        zeroline=False,
        autorange="reversed",
        scaleanchor=_axis_anchor(subplot.xaxis),
        constrain="domain",
        row=row,
        col=col,
    )


def _add_bars(figure: go.Figure, maps: StreamMaps, k: int, cell: tuple[int, int], label: str) -> None:
    """Class ``k``'s mean absolute attribution per feature as bars in subplot ``cell`` (row, col), one scale per stream."""
    row, col = cell
    features = np.arange(maps.attribution.shape[1])
    figure.add_bar(x=features, y=maps.attribution[k], name=label, marker_color=BAR_COLOUR, showlegend=False, row=row, col=col)
    top = float(maps.attribution.max()) or 1.0
    figure.update_xaxes(title_text="feature", row=row, col=col)
    figure.update_yaxes(range=[0.0, 1.05 * top], showticklabels=col == 1, row=row, col=col)


def explanation_figure(maps: ClassMaps) -> go.Figure:
    """A grid of one row per stream and one column per class: maps drawn over the class-mean input
    (grey: input magnitude; yellow to red: absolute attribution), bar charts for vector streams."""
    names = list(maps.streams)
    titles = [f"{name} · {c} ({n} clips)" for name in names for c, n in zip(maps.classes, maps.clips, strict=True)]
    figure = make_subplots(rows=len(names), cols=len(maps.classes), subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.08)
    for row, name in enumerate(names, start=1):
        stream = maps.streams[name]
        for k, c in enumerate(maps.classes):
            label = f"{name} · {c}"
            if stream.image:
                _add_image(figure, stream, k, (row, k + 1), label)
            else:
                _add_bars(figure, stream, k, (row, k + 1), label)
    figure.update_layout(
        title="where each class's evidence lies<br><sup>Integrated Gradients on the training clips from the training mean; "
        "grey: class-mean input, yellow to red: |attribution|</sup>",
        height=80 + 260 * len(names),
        width=max(760, 240 * len(maps.classes) + 120),
        plot_bgcolor="white",
    )
    return figure


def explanation_section(run_dir: Path, cache_dir: Path, console: Console, export: bool) -> tuple[str, list[go.Figure]]:
    """The report's explanation maps of the selected pipeline, from its export under ``RUN_DIR/export``
    (written first when ``export`` is true and it is missing), as (HTML, figures)."""
    info = load_run(run_dir)
    heading = "<h2>What the selected pipeline looks at</h2>"
    if info.strict or info.dataset.features is not None:
        reason = (
            "strict runs select a pipeline per fold" if info.strict else "the run searched precomputed inputs, which cannot be exported"
        )
        return f"{heading}<p>No explanation maps: {reason}.</p>", []
    chosen = selected_trial(ResultsStore(run_dir).trials(info.study_name))
    if chosen is None:
        return f"{heading}<p>No explanation maps: no trial completed every fold yet.</p>", []
    export_dir = Path(run_dir) / "export" / f"trial-{chosen.number}"
    if not export_dir.is_dir():
        if not export:
            command = f"merauto report {run_dir} --explain"
            return f"{heading}<p>No explanation maps yet: run <code>{command}</code> (exports trial {chosen.number} first).</p>", []
        export_pipeline(run_dir, None, None, cache_dir, console)
    with console.status(f"explaining trial {chosen.number} with integrated gradients on its training clips"):
        maps = explain_export(export_dir, cache_dir, info.dataset)
    text = (
        f"{heading}<p>Integrated gradients (captum) of the export of trial {chosen.number}, refit on every clip: for each class, "
        "the mean absolute attribution of up to 32 of its training clips to their own label, over the class-mean input "
        "(zero baseline = the training mean). These are the model's training data; no selection reads them.</p>"
    )
    return text, [explanation_figure(maps)]
