"""Live progress of a spotting search: the flow computed before the first trial, trials done with
the best inner F1 and an ETA, and the outer folds of the trial running with its own ETA.

On a terminal it is a rich progress display. When output goes to a file or a pipe (a batch job's
log) it is plain lines instead: the flow every tenth of the way, each finished fold of a trial,
and each finished trial, every line with its ETA. A trial's ETA is its mean time per fold so far
times the folds left; the search's is the mean time of the trials it has run times the trials left.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from merauto.orchestrator.progress import clock


class SpotProgress:
    """Progress of one spotting search to ``budget`` counted trials, ``done`` of them already; see the module docstring."""

    def __init__(self, console: Console, budget: int, done: int) -> None:
        self.console, self.budget, self.done = console, budget, done
        self.trial_seconds: list[float] = []
        self.best: float | None = None
        self._trial: tuple[int, str, float] | None = None  # number, spotter, start
        self._flow_step = 0
        self._live: Progress | None = None
        self._trials_task: TaskID | None = None
        self._inner_task: TaskID | None = None
        if console.is_terminal:
            self._live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self) -> SpotProgress:
        if self._live is not None:
            self._live.start()
            self._trials_task = self._live.add_task("spotting trials", total=self.budget, completed=min(self.done, self.budget))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()

    def say(self, line: str) -> None:
        """A line for people: above the live display on a terminal, a log line otherwise."""
        self.console.print(line, soft_wrap=True, highlight=False)

    def flow(self, pairs_done: int, pairs: int) -> None:
        """Frame pairs of optical flow computed before the first trial."""
        if self._live is not None:
            if self._inner_task is None:
                self._inner_task = self._live.add_task("optical flow (kept for every trial)", total=pairs)
            self._live.update(self._inner_task, completed=pairs_done, total=pairs)
            if pairs_done >= pairs:
                self._live.remove_task(self._inner_task)
                self._inner_task = None
            return
        step = int(10 * pairs_done / max(1, pairs))
        if step > self._flow_step or pairs_done >= pairs:
            self._flow_step = step
            self.say(f"optical flow before the first trial: {pairs_done}/{pairs} frame pairs ({100 * pairs_done / max(1, pairs):.0f}%)")

    def trial_started(self, number: int, spotter: str) -> None:
        self._trial = (number, spotter, time.monotonic())
        if self._live is not None:
            self._inner_task = self._live.add_task(f"trial {number} ({spotter}): outer folds", total=None)

    def fold_done(self, folds_done: int, folds: int) -> None:
        """One more outer fold of the running trial is evaluated."""
        if self._trial is None:
            return
        number, spotter, start = self._trial
        elapsed = time.monotonic() - start
        if self._live is not None and self._inner_task is not None:
            self._live.update(self._inner_task, completed=folds_done, total=folds)
            return
        left = elapsed / folds_done * (folds - folds_done)
        self.say(f"trial {number} ({spotter}): fold {folds_done}/{folds} done after {clock(elapsed)}; trial eta {clock(left)}")

    def trial_finished(self, objective: float | None, error: str | None = None) -> None:
        """The running trial ended: complete with its inner F1, or failed with ``error``."""
        if self._trial is None:
            return
        number, spotter, start = self._trial
        self._trial = None
        self.trial_seconds.append(time.monotonic() - start)
        self.done += 1
        if objective is not None:
            self.best = objective if self.best is None else max(self.best, objective)
        if self._live is not None:
            if self._inner_task is not None:
                self._live.remove_task(self._inner_task)
                self._inner_task = None
            self._live.update(self._trials_task, completed=min(self.done, self.budget))
        outcome = f"failed: {error}" if error is not None else f"complete, inner F1 {objective:.3f}"
        best = "" if self.best is None else f"; best inner F1 {self.best:.3f}"
        self.say(f"trial {number} ({spotter}) {outcome} | {self.done}/{self.budget} done{best}; eta {clock(self.eta())}")

    def eta(self) -> float:
        """Seconds left: the trials left at the mean time of those this search ran."""
        if not self.trial_seconds:
            return 0.0
        return sum(self.trial_seconds) / len(self.trial_seconds) * max(0, self.budget - self.done)
