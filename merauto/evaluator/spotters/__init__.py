"""Spotters (survey §4.2.1): each turns a long video into per-type signals for peak detection.

Every module of this package registers its spotters in :data:`SPOTTERS` when imported; adding a
spotter is adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from merauto.evaluator.spotters.core import SPOTTERS, FittedSpotter, Memo, Spotter, evaluate, spot_frames

__all__ = ["SPOTTERS", "FittedSpotter", "Memo", "Spotter", "evaluate", "spot_frames"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
