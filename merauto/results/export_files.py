"""The files of an exported pipeline, and the check that a folder holds them (made before anything heavy is imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from merauto.errors import MerautoError

PIPELINE_FILE = "pipeline.json"  # config, classes, provenance, scores
PREPROCESSING_FILE = "preprocessing.json"  # the input streams and their code versions
WEIGHTS_FILE = "model.pt"  # weights and normalisation statistics (tensors only: loaded with weights_only)
EXPORT_FILES = (PIPELINE_FILE, PREPROCESSING_FILE, WEIGHTS_FILE)
PATH_KEYS = frozenset({"manifest", "data_root", "data_config", "features", "init_checkpoint"})  # hold local paths


def require_export(export_dir: Path) -> Path:
    """``export_dir``, or a clear error when it is not a folder written by ``merauto export``."""
    export_dir = Path(export_dir)
    for name in EXPORT_FILES:
        if not (export_dir / name).is_file():
            raise MerautoError(f"{export_dir} lacks {name}; it is not a merauto export", "pass a folder written by merauto export")
    return export_dir


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
