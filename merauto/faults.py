"""Crash points for the fault tests: ``MERAUTO_FAULT=NAME`` kills this process with SIGKILL when
it reaches the point ``NAME`` (``NAME:N``: the Nth time), as ``kill -9`` would at that instant.

The points sit where a crash is hardest to recover from: ``sampled`` (a trial asked and its
config sampled, nothing trained), ``store-write`` (inside the results-store transaction, before
it commits) and ``stored`` (the results stored, Optuna not yet told). Unset, a point does nothing.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "MERAUTO_FAULT"
_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here if ``MERAUTO_FAULT`` names this point (and this is the time it counts)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
