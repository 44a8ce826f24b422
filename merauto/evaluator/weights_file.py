"""The weights file of an export: ``model.safetensors``, or the ``model.pt`` of exports written before it.

``model.safetensors`` (safetensors: a JSON header and raw tensor bytes, nothing that runs on
loading) holds the network's ``state_dict`` under its own names, so
``model.load_state_dict(safetensors.torch.load_file(path))`` loads it anywhere, and as string
metadata (JSON) ``stream_shapes`` (stream name -> shape of one clip's array) and ``standardiser``
(stream name -> per-channel ``mean`` and ``std``, float32 written as decimals that read back
exactly). A ``model.pt`` holds the same three entries as a dict, and is read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary objects.
Either reads as that dict.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from merauto.errors import MerautoError

SAFETENSORS_SUFFIX = ".safetensors"
METADATA_KEYS = ("stream_shapes", "standardiser")


def save_weights(
    path: Path, state_dict: dict[str, torch.Tensor], standardiser: dict[str, Any], stream_shapes: dict[str, list[int]]
) -> None:
    """Write ``state_dict`` and, as metadata, the standardiser's statistics (:meth:`Standardiser.to_json`) and the stream shapes."""
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state_dict.items()}
    metadata = {"format": "pt", "stream_shapes": json.dumps(stream_shapes), "standardiser": json.dumps(standardiser)}
    Path(path).write_bytes(safetensors.torch.save(tensors, metadata=metadata))  # save_file would make it readable by its owner only


def load_weights(path: Path) -> dict[str, Any]:
    """``{"state_dict": ..., "stream_shapes": ..., "standardiser": ...}`` (those the file holds) from a
    ``.safetensors`` file or a ``torch.save`` file; a file that holds anything else is refused unread."""
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors(path)
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as error:  # weights_only: a pickled object is refused, never run
        raise MerautoError(
            f"cannot load {path}: {_first_line(error)}",
            "export the pipeline again with merauto export (an export holds tensors only; merauto never unpickles other objects)",
        ) from None
    if not isinstance(weights, dict):
        raise MerautoError(
            f"{path} holds a {type(weights).__name__}, not the weights of a merauto export", "pass a file written by merauto export"
        )
    return weights


def _load_safetensors(path: Path) -> dict[str, Any]:
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            weights: dict[str, Any] = {"state_dict": {name: handle.get_tensor(name) for name in handle.keys()}}
        weights.update({key: json.loads(metadata[key]) for key in METADATA_KEYS if key in metadata})
    except (OSError, safetensors.SafetensorError, json.JSONDecodeError) as error:
        raise MerautoError(f"cannot load {path}: {_first_line(error)}", "export the pipeline again with merauto export") from None
    return weights


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
