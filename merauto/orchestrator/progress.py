"""Live progress on the terminal: trials done / budget, best inner-validation UF1, elapsed, ETA."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from merauto.orchestrator.study import OBJECTIVE


class SearchProgress(Callback):
    """A rich progress bar driven by Ray Tune's trial events."""

    def __init__(self, budget: int, already_done: int, best_so_far: float | None, console: Console) -> None:
        self.best = best_so_far
        self.failed = 0
        self.pruned = 0
        self.progress: Progress | None = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(self._describe(), total=budget, completed=already_done)

    def _describe(self) -> str:
        best = "-" if self.best is None else f"{self.best:.3f}"
        pruned = f", {self.pruned} pruned" if self.pruned else ""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"best inner UF1 {best}{pruned}{failed}"

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles callbacks into its experiment state; a live terminal display does not pickle.
        return {**self.__dict__, "progress": None}

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=self._describe())

    def __enter__(self) -> SearchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        value = result.get(OBJECTIVE)
        status = result.get("status")
        if status == "ok" and value is not None and math.isfinite(value):
            self.best = value if self.best is None else max(self.best, value)
        elif status == "running":
            self.pruned += 1  # stopped after a rung by ASHA (or by an interruption, then re-run later)
        else:
            self.failed += 1
        self._advance()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.failed += 1
        self._advance()
