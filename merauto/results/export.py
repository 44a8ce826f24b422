"""`merauto export` and `merauto predict`: the selected pipeline refit on all subjects, and its use on new clips."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from merauto import __version__
from merauto.data.cache import FeatureCache
from merauto.data.clips import folder_clip
from merauto.data.datasets import load_index
from merauto.data.features import inputs_for
from merauto.data.findings import LoadedDataset
from merauto.data.frames import ordered_frames
from merauto.data.inputs import pipeline_streams
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import StreamSpec
from merauto.data.validation import check_files, frame_size
from merauto.errors import MerautoError
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.heads import RowTargets
from merauto.evaluator.model import build_model
from merauto.evaluator.pretrain import initial_weights
from merauto.results.export_files import PIPELINE_FILE, PREPROCESSING_FILE, WEIGHTS_FILE, require_export, without_paths
from merauto.results.run_dir import fold_study_name, load_run
from merauto.results.selection import trial_to_use
from merauto.results.store import ResultsStore
from merauto.spec.config import PipelineConfig

UNLABELLED = "unlabelled"  # the one class of an index of new clips


def export_pipeline(
    run_dir: Path, trial: int | None, out_dir: Path | None, cache_dir: Path, console: Console, fold: int | None = None
) -> Path:
    """Refit the chosen trial's pipeline on every subject and write it to ``out_dir``.

    The number of epochs is the median of the epochs its outer folds selected on inner
    validation. Files are written to a temporary folder renamed into place when complete.
    """
    info = load_run(run_dir)
    if info.dataset.features is not None:
        raise MerautoError(
            f"{run_dir} searched on precomputed inputs (--features {info.dataset.features}); an exported pipeline computes its "
            "inputs from frames, which would not match what the model was trained on",
            "to export a pipeline for new clips, run the search on the videos (--data-root) and export that run",
        )
    study = info.study_name
    if info.strict:
        if fold is None:
            raise MerautoError(
                f"{run_dir} is a strict run: each outer fold has its own study and selected pipeline",
                "pass --fold K to export fold K's selected pipeline (see merauto report for the folds)",
            )
        study = fold_study_name(info.study_name, fold)
    chosen = trial_to_use(ResultsStore(run_dir).trials(study), trial, "export")
    config = chosen.config
    epochs = max(1, int(np.median([f.selection.best_epoch for f in chosen.outcome.folds])))
    default_name = f"trial-{chosen.number}" if fold is None else f"fold{fold:03d}-trial-{chosen.number}"
    out_dir = Path(out_dir or Path(run_dir) / "export" / default_name)

    index = load_index(info.dataset, cache_dir)
    inputs = inputs_for(config, index, FeatureCache(cache_dir))
    rows = np.arange(len(index))
    with console.status(f"refitting trial {chosen.number} on all {len(index)} clips for {epochs} epochs"):
        targets = RowTargets.of(index.sources, index.action_unit_matrix())
        init = initial_weights(config, replace(info.evaluation, device="cpu"), cache_dir)
        member = Member(rows, info.evaluation.seed)
        model = ModelSet(config, inputs, index.labels, [member], len(index.classes), torch.device("cpu"), targets=targets, init=init)
        for _ in range(epochs):
            model.train_epoch([True])

    streams = pipeline_streams(config)
    scores = chosen.outcome.test_scores()
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
            "inner_uf1": chosen.objective,
            "outer_uf1": scores["uf1"],
            "outer_uar": scores["uar"],
            "protocol": without_paths(info.protocol()),
        },
    }
    preprocessing = {
        "streams": {name: {**s.to_json(), "versions": s.versions()} for name, s in streams.items()},
        "apex": "annotated apex when given, else spotted as the frame of strongest optical flow from the onset",
    }
    weights = {
        "state_dict": model.state_dict(0),
        "standardiser": model.standardisers[0].to_json(),
        "stream_shapes": {name: list(a.shape[1:]) for name, a in inputs.items()},
    }
    scratch = out_dir.parent / f".partial-{out_dir.name}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        (scratch / PIPELINE_FILE).write_text(json.dumps(pipeline, indent=2))
        (scratch / PREPROCESSING_FILE).write_text(json.dumps(preprocessing, indent=2))
        torch.save(weights, scratch / WEIGHTS_FILE)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(scratch, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out_dir


def _load_weights(path: Path) -> dict[str, Any]:
    """The tensors of an export's ``model.pt``; anything else in it is refused, never unpickled (``weights_only``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as error:
        reason = str(error).strip().splitlines()[0]
        raise MerautoError(
            f"cannot load {path}: {reason}",
            "export the pipeline again with merauto export (an export holds tensors only; merauto never unpickles other objects)",
        ) from None


@dataclass
class ExportedPipeline:
    """A pipeline written by :func:`export_pipeline`, ready to classify new clips."""

    config: PipelineConfig
    classes: tuple[str, ...]
    model: torch.nn.Module
    standardiser: Standardiser
    metadata: dict[str, Any]

    @classmethod
    def load(cls, export_dir: Path) -> ExportedPipeline:
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
        weights = _load_weights(export_dir / WEIGHTS_FILE)
        shapes = {k: tuple(v) for k, v in weights["stream_shapes"].items()}
        model = build_model(config, shapes, len(pipeline["classes"]))
        model.load_state_dict(weights["state_dict"])
        model.eval()
        return cls(config, tuple(pipeline["classes"]), model, Standardiser.from_json(weights["standardiser"]), pipeline)

    def predict_proba(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (N, n_classes) of the clips whose streams are ``inputs`` (N, ...) by name."""
        tensors = {}
        for name, array in inputs.items():
            shape = (1, -1) + (1,) * (array.ndim - 2)
            standardised = (array - self.standardiser.mean[name].reshape(shape)) / self.standardiser.std[name].reshape(shape)
            tensors[name] = torch.from_numpy(standardised.astype(np.float32))
        with torch.inference_mode():
            return torch.softmax(self.model(tensors), dim=1).numpy()

    def predict_folders(
        self, folders: list[Path], cache: FeatureCache, onset: int | None = None, apex: int | None = None
    ) -> list[tuple[str, str, list[float]]]:
        """(folder, predicted class, probabilities) for clip folders of numbered frames, their inputs
        built as the search built them (:func:`~merauto.data.features.inputs_for`, cached by content)."""
        samples = tuple(folder_clip(Path(f), onset, apex, UNLABELLED) for f in folders)
        clips = LoadedDataset(SampleIndex("new clips", (UNLABELLED,), samples))
        clips = clips.with_findings(check_files(clips.index)).require()  # unreadable frames, frames of several sizes
        probs = self.predict_proba(inputs_for(self.config, clips, cache))
        return [(str(f), self.classes[int(p.argmax())], p.tolist()) for f, p in zip(folders, probs, strict=True)]

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
