"""User-facing errors: each says what is wrong and how to fix it."""

from __future__ import annotations


class MerautoError(Exception):
    """A problem the user can fix; the CLI prints it without a traceback."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")


class TrialDiverged(RuntimeError):
    """Training produced a non-finite loss; the trial is recorded as failed."""


class TrialOutOfMemory(RuntimeError):
    """A trial outgrew its share of the machine's memory; the trial is recorded as failed."""


class TrialTimeout(RuntimeError):
    """A trial ran past ``--trial-timeout``; the trial is recorded as failed."""
