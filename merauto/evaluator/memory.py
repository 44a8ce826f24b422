"""Each trial's share of the machine's memory, checked while it trains.

A trial that outgrows its share fails itself with a clear error (recorded as a failed trial;
the search goes on) before the machine runs out. Otherwise Ray's memory monitor kills a
worker, not necessarily the one that grew, and Ray Tune stops the whole search.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from merauto.errors import TrialOutOfMemory

MEMORY_FRACTION = 0.85  # of the machine's memory, shared by the trials that run at once (Ray's monitor acts at 0.95)

_budget: int | None = None


def trial_share(concurrent_trials: int) -> int:
    """Bytes one of ``concurrent_trials`` trials may use on this machine."""
    return int(psutil.virtual_memory().total * MEMORY_FRACTION / max(1, concurrent_trials))


@contextmanager
def memory_budget(limit_bytes: int | None) -> Iterator[None]:
    """Within the block, :func:`check_memory` fails once this process holds more than ``limit_bytes``."""
    global _budget
    previous, _budget = _budget, limit_bytes
    try:
        yield
    finally:
        _budget = previous


def check_memory() -> None:
    """Raise :class:`TrialOutOfMemory` if this process is over its budget (if one is set)."""
    if _budget is None:
        return
    used = psutil.Process().memory_info().rss
    if used > _budget:
        raise TrialOutOfMemory(
            f"the trial's worker holds {used / 2**30:.1f} GiB, more than its share of {_budget / 2**30:.1f} GiB "
            f"({MEMORY_FRACTION:.0%} of this machine's memory over the trials run at once); "
            "fix: lower --max-concurrent so each trial gets a larger share"
        )
