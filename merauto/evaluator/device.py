"""Which torch device a trial trains on."""

from __future__ import annotations

import torch


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when this process sees a GPU, else CPU; anything else is returned as given."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested
