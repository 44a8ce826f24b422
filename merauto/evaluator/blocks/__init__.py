"""Network blocks (survey §5.1): each maps (N, in, H, W) to (N, out, H, W).

Every module of this package registers its blocks in :data:`BLOCKS` when imported; adding a
block is adding one module here. ``core`` (convolution, residual) is imported first, so the
order of the searched choices starts with the blocks of the first studies.
"""

from __future__ import annotations

import importlib
import pkgutil

from merauto.evaluator.blocks.core import BLOCKS, Block

__all__ = ["BLOCKS", "Block"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
