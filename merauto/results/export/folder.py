"""An export folder, written whole or not at all.

``model.safetensors`` (weights; stream shapes and standardiser statistics as metadata),
``model.onnx`` (the same network, standardised streams -> logits), ``preprocessing.json`` (the
input streams and their code versions) and ``pipeline.json`` (config, classes, provenance, and
the ONNX model's opset and verification). Before the folder is renamed into place, onnxruntime's
logits on every clip the pipeline was trained on must match torch's within ``atol + rtol * |torch's|``
(:data:`ONNX_ATOL`, :data:`ONNX_RTOL`); otherwise the export fails and leaves nothing behind.
No file of the folder is a pickle.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from merauto.data.inputs import pipeline_streams
from merauto.errors import MerautoError
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.onnx_model import BATCH_AXIS, ONNX_OPSET, OUTPUT, export_onnx, verify_onnx
from merauto.evaluator.weights_file import save_weights
from merauto.pipeline.config import PipelineConfig
from merauto.results.export.files import ONNX_FILE, PIPELINE_FILE, PREPROCESSING_FILE, WEIGHTS_FILE

ONNX_ATOL = 1e-4  # logits; measured differences are about 1e-7 to 1e-5 (float32 sums in another order)
ONNX_RTOL = 1e-4


def write_export(
    out_dir: Path, pipeline: dict[str, Any], model: nn.Module, standardiser: Standardiser, inputs: dict[str, np.ndarray]
) -> Path:
    """Write the export of ``model`` (fitted ``standardiser``, trained on ``inputs``: raw streams by
    name, every clip it was trained on) to ``out_dir``, replacing what is there; ``pipeline`` is the
    record of ``pipeline.json`` (its ``config`` names the streams) without the ``onnx`` entry, which
    this adds. The folder is written beside ``out_dir`` and renamed into place once complete and verified."""
    out_dir = Path(out_dir)
    config = PipelineConfig.from_dict(pipeline["config"])
    shapes = {name: tuple(int(n) for n in array.shape[1:]) for name, array in sorted(inputs.items())}
    preprocessing = {
        "streams": {name: {**s.to_json(), "versions": s.versions()} for name, s in pipeline_streams(config).items()},
        "apex": "annotated apex when given, else spotted as the frame of strongest optical flow from the onset",
    }
    with folder_written_whole(out_dir) as scratch:
        save_weights(scratch / WEIGHTS_FILE, model.state_dict(), standardiser.to_json(), {k: list(v) for k, v in shapes.items()})
        export_onnx(model, shapes, scratch / ONNX_FILE, opset=ONNX_OPSET)
        try:
            difference = verify_onnx(scratch / ONNX_FILE, model, standardiser.apply(inputs), ONNX_ATOL, ONNX_RTOL)
        except MerautoError as error:
            raise MerautoError(f"nothing exported: {error.problem.replace(str(scratch), str(out_dir))}", error.fix) from None
        record = {**pipeline, "onnx": _onnx_record(shapes, len(next(iter(inputs.values()))), difference)}
        (scratch / PIPELINE_FILE).write_text(json.dumps(record, indent=2))
        (scratch / PREPROCESSING_FILE).write_text(json.dumps(preprocessing, indent=2))
    return out_dir


@contextmanager
def folder_written_whole(out_dir: Path) -> Iterator[Path]:
    """A scratch folder beside ``out_dir`` to write into; when the block completes it replaces
    ``out_dir``, and when the block fails it is removed (``out_dir`` left as it was)."""
    scratch = out_dir.parent / f".partial-{out_dir.name}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        yield scratch
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(scratch, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _onnx_record(shapes: dict[str, tuple[int, ...]], clips: int, difference: float) -> dict[str, Any]:
    """What ``pipeline.json`` says of ``model.onnx``: its interface, how it was written and how it was checked."""
    return {
        "file": ONNX_FILE,
        "opset": ONNX_OPSET,
        "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}",
        "inputs": {name: [BATCH_AXIS, *shape] for name, shape in shapes.items()},
        "output": OUTPUT,
        "verification": {
            "what": "onnxruntime's logits against torch's on every clip the pipeline was trained on, standardised",
            "clips": clips,
            "max_abs_difference": difference,
            "atol": ONNX_ATOL,
            "rtol": ONNX_RTOL,
        },
    }
