"""A weights file checked in the preflight, without torch: that ``--init-checkpoint`` names what
:func:`~merauto.evaluator.weights_file.load_weights` reads (a merauto export's ``model.safetensors``,
or the ``model.pt`` of older exports), so a wrong file is refused before any trial instead of
failing every trial that fine-tunes from it."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from merauto.errors import MerautoError

SAFETENSORS_SUFFIX = ".safetensors"
HEADER_LIMIT = 100_000_000  # bytes of a safetensors JSON header (the format's own limit)
PICKLE = b"\x80"  # the first byte of a pickle (torch.save's format before zip files)


def check_weights_file(path: Path, option: str = "--init-checkpoint") -> None:
    """Refuse ``path`` unless it reads as merauto's weights: a safetensors file holding tensors (its
    header checked against its size), or a ``torch.save`` file (a zip archive with ``data.pkl``, or a pickle)."""
    path = Path(path)
    problem = _safetensors_problem(path) if path.suffix == SAFETENSORS_SUFFIX else _torch_save_problem(path)
    if problem is not None:
        raise MerautoError(
            f"{option} {path}: not the weights of a merauto export ({problem})",
            "pass the model.safetensors (or model.pt) that merauto export wrote",
        )


def _safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a safetensors file of tensors, else ``None``: an 8-byte header length, a JSON
    header of that length, and tensors whose byte ranges lie in the file."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            return f"{size} bytes: too short for a safetensors header"
        (length,) = struct.unpack("<Q", start)
        if length > min(HEADER_LIMIT, size - 8):
            return f"its first 8 bytes announce a header of {length} bytes in a file of {size}: not safetensors"
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "its header is not JSON: not safetensors"
    if not isinstance(header, dict):
        return "its header is not a table of tensors"
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    if not tensors:
        return "it holds no tensors"
    data = size - 8 - length
    for name, entry in tensors.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data):
            return f"tensor {name!r} lies beyond the file's {data} data bytes: the file is truncated"
    return None


def _torch_save_problem(path: Path) -> str | None:
    """Why ``path`` is not a ``torch.save`` file, else ``None``."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name == "data.pkl" or name.endswith("/data.pkl") for name in archive.namelist()):
                return None
        return "a zip archive without torch.save's data.pkl"
    with path.open("rb") as handle:
        if handle.read(1) == PICKLE:
            return None
    return "neither a torch.save file nor safetensors; a safetensors file needs the suffix .safetensors"
