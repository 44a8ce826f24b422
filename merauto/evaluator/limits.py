"""Limits on one trial, checked at every training step and inference chunk.

- Memory: a trial's share of the machine. A trial that outgrows it fails itself with a clear
  error (recorded as a failed trial; the search goes on) before the machine runs out; otherwise
  Ray's memory monitor kills a worker, not necessarily the one that grew.
- Time (``--trial-timeout``): a trial that runs longer fails, so one very costly candidate
  (e.g. a sequence input with capsule blocks on 68 folds) cannot hold a worker for hours.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from merauto.errors import TrialOutOfMemory, TrialTimeout

MEMORY_FRACTION = 0.85  # of the machine's memory, shared by the trials that run at once (Ray's monitor acts at 0.95)


@dataclass(frozen=True)
class TrialLimits:
    """What one trial may use: bytes of memory and seconds (``None``: no limit)."""

    memory_bytes: int | None = None
    seconds: float | None = None


_active: tuple[TrialLimits, float] | None = None  # the limits of the trial this process runs, and its start


def trial_share(concurrent_trials: int) -> int:
    """Bytes one of ``concurrent_trials`` trials may use on this machine."""
    return int(psutil.virtual_memory().total * MEMORY_FRACTION / max(1, concurrent_trials))


@contextmanager
def trial_limits(limits: TrialLimits) -> Iterator[None]:
    """Within the block, :func:`check_limits` fails once this process passes ``limits``."""
    global _active
    previous, _active = _active, (limits, time.monotonic())
    try:
        yield
    finally:
        _active = previous


def check_limits() -> None:
    """Raise :class:`TrialOutOfMemory` or :class:`TrialTimeout` if the running trial is past a limit."""
    if _active is None:
        return
    limits, started = _active
    if limits.seconds is not None and time.monotonic() - started > limits.seconds:
        raise TrialTimeout(
            f"the trial ran {time.monotonic() - started:.0f} s, past --trial-timeout {limits.seconds:g} s; "
            "fix: raise --trial-timeout, lower --max-epochs, or use --pruning asha so costly trials stop after a rung of folds"
        )
    if limits.memory_bytes is not None:
        used = psutil.Process().memory_info().rss
        if used > limits.memory_bytes:
            raise TrialOutOfMemory(
                f"the trial's worker holds {used / 2**30:.1f} GiB, more than its share of {limits.memory_bytes / 2**30:.1f} GiB "
                f"({MEMORY_FRACTION:.0%} of this machine's memory over the trials run at once); "
                "fix: lower --max-concurrent so each trial gets a larger share"
            )
