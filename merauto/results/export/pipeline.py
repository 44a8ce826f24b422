"""`merauto export` and `merauto predict`: the selected pipeline refit on all subjects, and its use on new clips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from merauto import __version__
from merauto.data.cache import FeatureCache
from merauto.data.checks.findings import LoadedDataset
from merauto.data.checks.validation import check_files, frame_size
from merauto.data.clip_list import NewClip
from merauto.data.datasets import load_index
from merauto.data.features import inputs_for
from merauto.data.frames import ordered_frames
from merauto.data.inputs import pipeline_streams
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import StreamSpec
from merauto.errors import MerautoError
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.heads import RowTargets
from merauto.evaluator.metrics import scores
from merauto.evaluator.model import build_model
from merauto.evaluator.onnx_model import onnx_session, run_onnx, torch_logits
from merauto.evaluator.pretrain import initial_weights
from merauto.evaluator.weights_file import load_weights
from merauto.pipeline.config import PipelineConfig
from merauto.results.arguments import DEFAULT_SIZE
from merauto.results.ensemble import global_ensemble
from merauto.results.export.files import (
    ENSEMBLE_FILE,
    EXPORTS_FOLDER,
    PIPELINE_FILE,
    PREPROCESSING_FILE,
    member_folders,
    member_weights,
    onnx_file,
    require_export,
    weights_file,
    without_paths,
)
from merauto.results.export.folder import folder_written_whole, write_export
from merauto.results.run_dir import RunInfo, fold_study_name, load_run
from merauto.results.selection import selection_rule, trial_to_use
from merauto.results.store import RepeatRecord, ResultsStore, StoredTrial, repeated_scores

UNLABELLED = "unlabelled"  # the one class of an index of new clips
RUNTIMES = ("torch", "onnx")  # what runs an export's network: torch on model.safetensors, onnxruntime on model.onnx


def export_pipeline(
    run_dir: Path, trial: int | None, out_dir: Path | None, cache_dir: Path, console: Console, fold: int | None = None
) -> Path:
    """Refit the chosen trial's pipeline on every subject and write it to ``out_dir``.

    The number of epochs is the median of the epochs its outer folds selected on inner
    validation. Files are written to a temporary folder renamed into place when complete.
    """
    info = _exportable_run(run_dir)
    study = info.study_name
    if info.strict:
        if fold is None:
            raise MerautoError(
                f"{run_dir} is a strict run: each outer fold has its own study and selected pipeline",
                "pass --fold K to export fold K's selected pipeline (see merauto report for the folds)",
            )
        study = fold_study_name(info.study_name, fold)
    store = ResultsStore(run_dir)
    chosen = trial_to_use(store.trials(study), trial, "export")
    default_name = f"trial-{chosen.number}" if fold is None else f"fold{fold:03d}-trial-{chosen.number}"
    out_dir = Path(out_dir or Path(run_dir) / EXPORTS_FOLDER / default_name)
    index = load_index(info.dataset, cache_dir)
    repeats = [r for r in store.repeats(study) if r.trial == chosen.number]
    how = selection_rule(chosen) if trial is None else f"named with --trial {trial}"
    return write_export(out_dir, *_refit(info, chosen, index, cache_dir, console, how, repeats))


def export_ensemble(run_dir: Path, size: int, out_dir: Path | None, cache_dir: Path, console: Console) -> Path:
    """Refit the members of the run's global ensemble (:func:`merauto.results.ensemble.global_ensemble`)
    on every subject and write them, each an export of its own, with ``ensemble.json`` naming their
    weights; the folder is renamed into place when every member is written and verified."""
    info = _exportable_run(run_dir)
    if info.strict:
        raise MerautoError(f"{run_dir} is a strict run: no trial ran on every fold to ensemble", "export --ensemble a run without --strict")
    store = ResultsStore(run_dir)
    trials = store.trials(info.study_name)
    found = global_ensemble(trials, size, n_resamples=200)
    if found is None:
        raise MerautoError(
            f"{run_dir} has fewer than two completed trials with stored inner-validation probabilities",
            "run merauto search until two trials complete, or export one trial without --ensemble",
        )
    weights = next(iter(found.members.values()))
    out_dir = Path(out_dir or Path(run_dir) / EXPORTS_FOLDER / "ensemble")
    index = load_index(info.dataset, cache_dir)
    by_number = {t.number: t for t in trials}
    with folder_written_whole(out_dir) as scratch:
        for number in weights:
            repeats = [r for r in store.repeats(info.study_name) if r.trial == number]
            write_export(
                scratch / f"trial-{number}",
                *_refit(info, by_number[number], index, cache_dir, console, "member of the global ensemble", repeats),
            )
        estimate = found.estimate.scores
        record = {
            "merauto_version": __version__,
            "classes": list(index.classes),
            "members": [{"folder": f"trial-{n}", "trial": n, "weight": w} for n, w in weights.items()],
            "provenance": {
                "study": info.study_name,
                "selection": found.estimate.description,
                "size": size,
                "global_ensemble_outer_uf1": estimate["uf1"],
                "global_ensemble_outer_uar": estimate["uar"],
                "protocol": without_paths(info.protocol()),
            },
        }
        (scratch / ENSEMBLE_FILE).write_text(json.dumps(record, indent=2))
    return out_dir


def export_run(
    run_dir: Path,
    cache_dir: Path,
    console: Console,
    out_dir: Path | None = None,
    trial: int | None = None,
    fold: int | None = None,
    ensemble: bool = False,
    size: int = DEFAULT_SIZE,
) -> Path:
    """What `merauto export` writes: the run's global ensemble of up to ``size`` selection steps
    (``ensemble``), else trial ``trial`` (default: the selected one; of fold study ``fold`` in a
    strict run), each refit on every subject; returns the export's folder."""
    if ensemble:
        return export_ensemble(run_dir, size, out_dir, cache_dir, console)
    return export_pipeline(run_dir, trial, out_dir, cache_dir, console, fold=fold)


def _exportable_run(run_dir: Path) -> RunInfo:
    """The run's record, or a clear error when its pipelines cannot run on new clips."""
    info = load_run(run_dir)
    if info.dataset.features is not None:
        raise MerautoError(
            f"{run_dir} searched on precomputed inputs (--features {info.dataset.features}); an exported pipeline computes its "
            "inputs from frames, which would not match what the model was trained on",
            "to export a pipeline for new clips, run the search on the videos (--data-root) and export that run",
        )
    return info


def _refit(
    info: RunInfo,
    chosen: StoredTrial,
    index: SampleIndex,
    cache_dir: Path,
    console: Console,
    how: str,
    repeats: list[RepeatRecord],
) -> tuple[dict[str, Any], torch.nn.Module, Standardiser, dict[str, np.ndarray]]:
    """A trial's pipeline refit on every clip of ``index`` for the median of its folds' selected epochs:
    the record of its ``pipeline.json`` (with ``how`` it was chosen and the scores of its ``repeats``), the network,
    its standardiser and the inputs it trained on."""
    config = chosen.config
    epochs = max(1, int(np.median([f.selection.best_epoch for f in chosen.outcome.folds])))
    inputs = inputs_for(config, index, FeatureCache(cache_dir))
    rows = np.arange(len(index))
    with console.status(f"refitting trial {chosen.number} on all {len(index)} clips for {epochs} epochs"):
        targets = RowTargets.of(index.sources, index.action_unit_matrix())
        init = initial_weights(config, replace(info.evaluation, device="cpu"), cache_dir)
        member = Member(rows, info.evaluation.seed)
        model = ModelSet(config, inputs, index.labels, [member], len(index.classes), torch.device("cpu"), targets=targets, init=init)
        for _ in range(epochs):
            model.train_epoch([True])
    outer = chosen.outcome.test_scores()
    pipeline = {
        "merauto_version": __version__,
        "config": config.to_dict(),
        "classes": list(index.classes),
        "epochs": epochs,
        "trained_on": {
            "dataset": info.dataset.label(),
            "clips": len(index),
            "subjects": int(len(set(index.subjects))),
            "frame_sizes": sorted({frame_size(s.frames[s.onset]) for s in index}),
        },
        "provenance": {
            "study": info.study_name,
            "trial": chosen.number,
            "selection": how,
            "inner_uf1": chosen.objective,
            "outer_uf1": outer["uf1"],
            "outer_uar": outer["uar"],
            "repeated": repeated_scores(repeats) if repeats else None,
            "protocol": without_paths(info.protocol()),
        },
    }
    network = build_model(config, {name: a.shape[1:] for name, a in inputs.items()}, len(index.classes))
    network.load_state_dict(model.state_dict(0))
    console.print(f"trial {chosen.number} refit; writing its weights and ONNX model, checked against torch on all {len(index)} clips")
    return pipeline, network, model.standardisers[0], inputs


@dataclass
class ExportedPipeline:
    """A pipeline written by :func:`export_pipeline`, ready to classify new clips; ``session`` (an
    onnxruntime session of its ``model.onnx``) runs the network instead of ``model`` when set."""

    config: PipelineConfig
    classes: tuple[str, ...]
    model: torch.nn.Module
    standardiser: Standardiser
    metadata: dict[str, Any]
    session: Any = None

    @classmethod
    def load(cls, export_dir: Path, runtime: str = "torch") -> ExportedPipeline:
        """The export in ``export_dir`` (``model.safetensors``, or an older export's ``model.pt``); with
        ``runtime="onnx"`` its network runs in onnxruntime from ``model.onnx``."""
        if runtime not in RUNTIMES:
            raise MerautoError(f"--runtime {runtime}: not one of {', '.join(RUNTIMES)}", "pass --runtime torch or --runtime onnx")
        export_dir = require_export(export_dir)
        pipeline = json.loads((export_dir / PIPELINE_FILE).read_text())
        preprocessing = json.loads((export_dir / PREPROCESSING_FILE).read_text())
        config = PipelineConfig.from_dict(pipeline["config"])
        streams = {}
        for name, s in preprocessing["streams"].items():
            spec = StreamSpec.from_json(s)
            exported = s.get("versions", {s["kind"]: s.get("version")})  # exports before preprocessing steps had one version
            if exported != spec.versions():
                raise MerautoError(
                    f"{export_dir} was exported with stream versions {exported}; this merauto computes {spec.versions()}",
                    "re-export the pipeline with this merauto version",
                )
            streams[name] = spec
        if streams != pipeline_streams(config):
            raise MerautoError(
                f"{export_dir / PREPROCESSING_FILE} names streams {sorted(map(str, streams.values()))}, but the pipeline of "
                f"{PIPELINE_FILE} computes {sorted(map(str, pipeline_streams(config).values()))}",
                "re-export the pipeline with merauto export instead of editing its files",
            )
        path = weights_file(export_dir)
        weights = load_weights(path)
        if not {"state_dict", "stream_shapes", "standardiser"} <= set(weights):
            raise MerautoError(f"{path} lacks the stream shapes or standardiser statistics of an export", "export the pipeline again")
        shapes = {k: tuple(v) for k, v in weights["stream_shapes"].items()}
        model = build_model(config, shapes, len(pipeline["classes"]))
        model.load_state_dict(weights["state_dict"])
        model.eval()
        session = onnx_session(onnx_file(export_dir)) if runtime == "onnx" else None
        return cls(config, tuple(pipeline["classes"]), model, Standardiser.from_json(weights["standardiser"]), pipeline, session)

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (N, n_classes) of the clips whose streams are ``inputs`` (N, ...) by name."""
        standardised = self.standardiser.apply(inputs)
        logits = run_onnx(self.session, standardised) if self.session is not None else torch_logits(self.model, standardised)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict_clips(self, clips: Sequence[NewClip], cache: FeatureCache) -> list[tuple[str, str, list[float]]]:
        """(folder, predicted class, probabilities) for each clip, its inputs built as the search
        built them (:func:`~merauto.data.features.inputs_for`, cached by content)."""
        samples, seen = [], set()
        for k, clip in enumerate(clips):
            sample = clip.sample(UNLABELLED, sample_id=str(clip.folder) if str(clip.folder) not in seen else f"{clip.folder}#{k + 1}")
            seen.add(sample.id)
            samples.append(sample)
        loaded = LoadedDataset(SampleIndex("new clips", (UNLABELLED,), tuple(samples)))
        loaded = loaded.with_findings(check_files(loaded.index)).require()  # unreadable frames, frames of several sizes
        probs = self.predict_proba(inputs_for(self.config, loaded, cache))
        return [(str(c.folder), self.classes[int(p.argmax())], p.tolist()) for c, p in zip(clips, probs, strict=True)]

    def size_warnings(self, folders: list[Path]) -> list[str]:
        """A line for each clip whose frames are not of a size the pipeline was trained on."""
        trained = self.metadata.get("trained_on", {}).get("frame_sizes")
        if not trained:  # exported before sizes were recorded
            return []
        lines = []
        for folder in folders:
            size = frame_size(ordered_frames(Path(folder))[0])
            if size not in trained:
                lines.append(
                    f"{folder}: frames are {size}, the pipeline was trained on clips of {', '.join(trained)}; its face "
                    "registration, regions and resizing were chosen for those, so treat these predictions with care"
                )
        return lines


@dataclass
class ExportedEnsemble:
    """An export written by :func:`export_ensemble`: member pipelines whose class probabilities are
    averaged with their weights (each member computes its own inputs, as it did in the search)."""

    members: list[ExportedPipeline]
    weights: list[float]
    classes: tuple[str, ...]
    metadata: dict[str, Any]

    def predict_clips(self, clips: Sequence[NewClip], cache: FeatureCache) -> list[tuple[str, str, list[float]]]:
        """(folder, predicted class, averaged probabilities) for each clip."""
        total = sum(w * np.array([p for _, _, p in m.predict_clips(clips, cache)]) for m, w in zip(self.members, self.weights, strict=True))
        probs = total / sum(self.weights)
        return [(str(c.folder), self.classes[int(p.argmax())], p.tolist()) for c, p in zip(clips, probs, strict=True)]

    def size_warnings(self, folders: list[Path]) -> list[str]:
        """The first member's warnings (every member was trained on the same clips)."""
        return self.members[0].size_warnings(folders)


def load_export(export_dir: Path, runtime: str = "torch") -> ExportedPipeline | ExportedEnsemble:
    """A single pipeline's export, or an ensemble's (a folder with ``ensemble.json``)."""
    folders = member_folders(require_export(export_dir))
    if folders == [Path(export_dir)]:
        return ExportedPipeline.load(export_dir, runtime)
    members = [ExportedPipeline.load(folder, runtime) for folder in folders]
    if len({m.classes for m in members}) > 1:
        raise MerautoError(
            f"the members of {export_dir} predict different classes", "export the ensemble again with merauto export --ensemble"
        )
    record = json.loads((Path(export_dir) / ENSEMBLE_FILE).read_text())
    return ExportedEnsemble(members, member_weights(export_dir), members[0].classes, record)


def labelled_scores(labels: Sequence[str | None], predicted: Sequence[str], classes: tuple[str, ...]) -> dict[str, Any] | None:
    """UF1, UAR, accuracy and the rest of :func:`~merauto.evaluator.metrics.scores` of the
    ``predicted`` classes of the clips whose label (``labels``, ``None``: unknown) is known; ``None`` when none is."""
    position = {name: k for k, name in enumerate(classes)}
    pairs = [(position[truth], position[label]) for truth, label in zip(labels, predicted, strict=True) if truth is not None]
    if not pairs:
        return None
    truth, guess = np.array(pairs).T
    return scores(truth, guess, len(classes))
