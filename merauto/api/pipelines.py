"""An exported pipeline from Python: what `merauto predict EXPORT FOLDERS...` computes, as a DataFrame."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from merauto.data.cache import FeatureCache
from merauto.data.clip_list import check_labels, clips_to_classify
from merauto.data.request import cache_dir_from
from merauto.results.export.files import require_runnable_export

if TYPE_CHECKING:
    from merauto.results.export.pipeline import ExportedEnsemble, ExportedPipeline


class Pipeline:
    """A pipeline (or ensemble) written by ``merauto export`` / :meth:`Run.export <merauto.api.runs.Run.export>`,
    ready to classify new clips: folders of numbered frames. ``classes``: what it predicts."""

    def __init__(self, path: Path, exported: ExportedPipeline | ExportedEnsemble, cache_dir: Path) -> None:
        self.path = path
        self.exported = exported
        self.cache_dir = cache_dir

    def __repr__(self) -> str:
        return f"Pipeline({str(self.path)!r}, classes={self.classes!r})"

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes it predicts, in the order of its probability columns."""
        return self.exported.classes

    @property
    def metadata(self) -> dict[str, Any]:
        """Its ``pipeline.json`` (or an ensemble's ``ensemble.json``): config, training data, provenance and scores."""
        return self.exported.metadata

    def predict(
        self,
        clips: str | Path | Sequence[str | Path] = (),
        *,
        clips_csv: str | Path | None = None,
        onset: int | None = None,
        apex: int | None = None,
    ) -> pd.DataFrame:
        """One row per clip: ``clip`` (its folder), the predicted ``label`` and each class's probability
        (``p_CLASS``), as ``merauto predict`` prints them; ``true_label`` too when ``clips_csv`` labels
        a clip (see :meth:`score`). The clips are folders (``onset``, ``apex``: their frame numbers;
        default the first frame, spotted) or the rows of ``clips_csv`` (columns folder, onset, apex,
        offset, label). A clip whose frames are of a size the pipeline was not trained on warns."""
        folders = [clips] if isinstance(clips, (str, Path)) else list(clips)
        new_clips = clips_to_classify(folders, clips_csv, onset, apex)
        check_labels(new_clips, self.classes, str(self.path))
        for line in self.exported.size_warnings([clip.folder for clip in new_clips]):
            warnings.warn(line, stacklevel=2)
        rows = self.exported.predict_clips(new_clips, FeatureCache(self.cache_dir))
        columns = ["clip", "label", *(f"p_{c}" for c in self.classes)]
        frame = pd.DataFrame([[folder, label, *probs] for folder, label, probs in rows], columns=columns)
        if any(clip.label is not None for clip in new_clips):
            frame["true_label"] = [clip.label for clip in new_clips]
        return frame

    def score(self, predictions: pd.DataFrame) -> dict[str, Any] | None:
        """UF1, UAR, accuracy (and per-class F1, recall, the confusion matrix) of the labelled rows of
        :meth:`predict`'s ``predictions``, as ``merauto predict`` prints them; ``None`` when no row is labelled."""
        from merauto.results.export.pipeline import labelled_scores

        if "true_label" not in predictions:
            return None
        truth = [None if pd.isna(label) else label for label in predictions["true_label"]]
        return labelled_scores(truth, list(predictions["label"]), self.classes)


def load_pipeline(export_dir: str | Path, runtime: str = "torch", cache_dir: str | Path | None = None) -> Pipeline:
    """The export in ``export_dir`` (a pipeline's or an ensemble's); ``runtime="onnx"`` runs its network
    in onnxruntime from ``model.onnx``; ``cache_dir`` caches the inputs it computes (default: the merauto cache).

    >>> load_pipeline("no/such/export")
    Traceback (most recent call last):
    merauto.errors.MerautoError: no/such/export lacks pipeline.json; it is not a merauto export
      fix: pass a folder written by merauto export
    """
    path = require_runnable_export(Path(export_dir), runtime)  # refused before torch is imported
    from merauto.results.export.pipeline import load_export

    return Pipeline(path, load_export(path, runtime=runtime), cache_dir_from(cache_dir))
