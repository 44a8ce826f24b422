"""The files of an exported pipeline, and the checks made on a folder before anything heavy is imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from merauto.errors import MerautoError
from merauto.results.run_dir import RUN_INFO

EXPORTS_FOLDER = "export"  # RUN/export: where merauto export writes the exports of run folder RUN
PIPELINE_FILE = "pipeline.json"  # config, classes, provenance, scores, the ONNX model's opset and verification
PREPROCESSING_FILE = "preprocessing.json"  # the input streams and their code versions
WEIGHTS_FILE = "model.safetensors"  # state dict; stream shapes and standardiser statistics as metadata (merauto.evaluator.weights_file)
LEGACY_WEIGHTS_FILE = "model.pt"  # exports before model.safetensors: the same, read with torch.load(weights_only=True)
ONNX_FILE = "model.onnx"  # the network on standardised streams -> logits, dynamic batch (merauto.evaluator.onnx_model)
ENSEMBLE_FILE = "ensemble.json"  # an ensemble export: classes, provenance, and each member's folder (an export) and weight
PATH_KEYS = frozenset({"manifest", "data_root", "data_config", "features", "init_checkpoint"})  # hold local paths


def require_export(export_dir: Path) -> Path:
    """``export_dir``, or a clear error when it is not a folder written by ``merauto export`` (with or without ``--ensemble``)."""
    export_dir = Path(export_dir)
    if (export_dir / RUN_INFO).is_file():
        raise _run_folder_refusal(export_dir)
    for folder in member_folders(export_dir):
        for name in (PIPELINE_FILE, PREPROCESSING_FILE):
            if not (folder / name).is_file():
                raise MerautoError(f"{folder} lacks {name}; it is not a merauto export", "pass a folder written by merauto export")
        weights_file(folder)
    return export_dir


def require_runnable_export(export_dir: Path, runtime: str) -> Path:
    """``export_dir`` (:func:`require_export`), and with ``runtime="onnx"`` each member's ``model.onnx`` checked."""
    export_dir = require_export(export_dir)
    if runtime == "onnx":
        for folder in member_folders(export_dir):
            onnx_file(folder)
    return export_dir


def _run_folder_refusal(run_dir: Path) -> MerautoError:
    """Why a search's run folder is not an export, with the fix: the exports it holds, or the command that writes one."""
    written = (run_dir / EXPORTS_FOLDER).glob("*")
    exports = sorted(folder for folder in written if (folder / PIPELINE_FILE).is_file() or (folder / ENSEMBLE_FILE).is_file())
    if exports:
        return MerautoError(
            f"{run_dir} is the run folder of a search, not an export", f"pass one of its exports: {', '.join(map(str, exports))}"
        )
    return MerautoError(
        f"{run_dir} is the run folder of a search and holds no export",
        f"run merauto export {run_dir} first, then pass the folder it writes, {run_dir / EXPORTS_FOLDER}/trial-N",
    )


def member_folders(export_dir: Path) -> list[Path]:
    """The export folders whose predictions an export averages: its members' for an ensemble, else itself."""
    export_dir = Path(export_dir)
    record = _ensemble_record(export_dir)
    if record is None:
        return [export_dir]
    return [export_dir / m["folder"] for m in record["members"]]


def member_weights(export_dir: Path) -> list[float]:
    """Each member's weight in the average (1 for a single pipeline), in :func:`member_folders` order."""
    record = _ensemble_record(Path(export_dir))
    return [1.0] if record is None else [float(m["weight"]) for m in record["members"]]


def _ensemble_record(export_dir: Path) -> dict[str, Any] | None:
    path = export_dir / ENSEMBLE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not record["members"] or not all({"folder", "weight"} <= set(m) for m in record["members"]):
            raise ValueError("no members, or a member without its folder and weight")
        return record
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MerautoError(f"cannot read {path}: {error}", "export the ensemble again with merauto export --ensemble") from None


def weights_file(export_dir: Path) -> Path:
    """The export's ``model.safetensors``, or the ``model.pt`` of an export written before it."""
    for name in (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE):
        if (Path(export_dir) / name).is_file():
            return Path(export_dir) / name
    raise MerautoError(f"{export_dir} lacks {WEIGHTS_FILE}; it is not a merauto export", "pass a folder written by merauto export")


def onnx_file(export_dir: Path) -> Path:
    """The export's ``model.onnx``; exports written before it have none and are refused with the fix."""
    path = Path(export_dir) / ONNX_FILE
    if not path.is_file():
        raise MerautoError(
            f"{export_dir} has no {ONNX_FILE} (exported before merauto wrote ONNX models)",
            "predict with --runtime torch, or export the pipeline again with merauto export",
        )
    return path


def exported_classes(export_dir: Path) -> tuple[str, ...]:
    """The classes an export predicts, read from its ``pipeline.json`` (an ensemble's: its first member's) alone."""
    path = member_folders(export_dir)[0] / PIPELINE_FILE
    try:
        return tuple(json.loads(path.read_text())["classes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MerautoError(f"cannot read the classes of {path}: {error}", "export the pipeline again with merauto export") from None


def without_paths(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with each local file or folder named by its last part only, so an export says
    which data it came from without telling where that data lives on one machine."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = without_paths(value)
        elif key in PATH_KEYS and isinstance(value, str):
            out[key] = Path(value).name
        else:
            out[key] = value
    return out
