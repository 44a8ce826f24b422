"""Counting the ATen operators a piece of PyTorch code dispatches.

On CUDA every operator that is not a view launches at least one kernel, and for models as
small as these the launches, not the arithmetic, set the time. The count is the same on any
device, so the CPU can show how many launches a training step of many folds needs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode


class DispatchCounter(TorchDispatchMode):
    """Within ``with DispatchCounter() as ops:``, ``ops.counts["aten.add"]`` counts each operator."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())
