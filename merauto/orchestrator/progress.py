"""Live progress of a search: trials done, running, failed and pruned, the best inner UF1, elapsed and ETA.

On a terminal it is a rich progress bar. When output goes to a file or a pipe (a batch job's
log) it is one plain line per finished trial instead, so a log shows how the search goes.
The ETA comes from the cost model's predictions: what the running trials have left of their
predicted time, plus the trials not started at the mean prediction of the proposals accepted so
far, each scaled by how the finished trials' measured times compared with their predictions, and
shared among the trials that run at once (no later than the end of ``--time-budget``). Before
any prediction it is the trials left times the mean time a finished trial took. Proposals
refused for their predicted cost are counted, not trials.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from merauto.orchestrator.study import OBJECTIVE

STOPPED = "running"  # the status of a trial's last report when a scheduler stopped it after a rung


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class SearchProgress(Callback):
    """Progress driven by Ray Tune's trial events; see the module docstring."""

    def __init__(
        self,
        budget: int,
        already_done: int,
        best_so_far: float | None,
        console: Console,
        slots: int = 1,
        time_budget_s: float | None = None,
    ) -> None:
        self.budget, self.done, self.best = budget, already_done, best_so_far
        self.slots, self.time_budget_s = max(1, slots), time_budget_s
        self.console = console
        self.running = self.failed = self.pruned = self.not_trained = self.refused_proposals = 0
        self.trial_seconds: list[float] = []
        self.predictions: dict[str, float] = {}  # trial id -> predicted training seconds (accepted proposals)
        self.starts: dict[str, float] = {}  # running trial id -> when it started
        self.measured_over_predicted: list[float] = []  # finished complete trials
        self.started = time.monotonic()
        self.number_of: Callable[[str], int | None] = lambda trial_id: None
        self.progress: Progress | None = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self.task = self.progress.add_task(self.describe(), total=budget, completed=already_done)

    def predicted(self, trial_id: str, seconds: float) -> None:
        """The searcher accepted a proposal predicted to train for ``seconds``."""
        self.predictions[trial_id] = seconds

    def refused(self, number: int, refusal: Any) -> None:
        """The searcher refused proposal ``number`` for its predicted cost (not a trial: the budget is untouched)."""
        self.refused_proposals += 1
        if self.progress is not None:
            self.progress.update(self.task, description=self.describe())
        elif self.refused_proposals in (1, 10) or self.refused_proposals % 50 == 0:
            self.console.print(
                f"{time.strftime('%H:%M:%S')} proposal {number} not trained: {refusal.reason} ({self.refused_proposals} so far; "
                "not counted against --budget)",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )

    def eta_s(self) -> float | None:
        """Seconds to the end of the search (``None`` before anything is predicted or finished); see the module docstring."""
        if self.predictions:
            eta = self._predicted_eta()
        elif self.trial_seconds:
            left = max(0, self.budget - self.done)
            eta = left * statistics.mean(self.trial_seconds) / min(self.slots, max(1, left))
        else:
            return None
        if self.time_budget_s is not None:
            eta = min(eta, max(0.0, self.time_budget_s - (time.monotonic() - self.started)))
        return eta

    def _predicted_eta(self) -> float:
        scale = statistics.median(self.measured_over_predicted) if self.measured_over_predicted else 1.0
        now = time.monotonic()
        running = [max(0.0, self.predictions.get(t, 0.0) * scale - (now - started)) for t, started in self.starts.items()]
        waiting = max(0, self.budget - self.done - len(self.starts))
        per_trial = statistics.mean(self.predictions.values()) * scale
        return max(max(running, default=0.0), (sum(running) + waiting * per_trial) / self.slots)

    def describe(self) -> str:
        """Running, failed and pruned counts, the best inner UF1 and the ETA, in words."""
        best = "-" if self.best is None else f"{self.best:.3f}"
        parts = [f"{self.running} running"]
        counts = ((self.failed, "failed"), (self.pruned, "pruned"), (self.not_trained, "not trained"), (self.refused_proposals, "refused"))
        parts += [f"{n} {what}" for n, what in counts if n]
        eta = self.eta_s()
        return f"{', '.join(parts)}; best inner UF1 {best}; eta {'-' if eta is None else clock(eta)}"

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles callbacks into its experiment state; a live display and the searcher's lookup do not pickle.
        return {**self.__dict__, "progress": None, "console": None, "number_of": None}

    def __enter__(self) -> SearchProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running += 1
        self.starts[trial.trial_id] = time.monotonic()
        self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        value, status = result.get(OBJECTIVE), result.get("status")
        self.starts.pop(trial.trial_id, None)
        if status == "past_budget":  # not started: it runs on resume
            self.running -= 1
            self._finished(trial, "not started: past --time-budget")
            return
        if status == "ok" and value is not None and math.isfinite(value):
            self.best = value if self.best is None else max(self.best, value)
            if result.get("predicted_s") and result.get("train_s"):
                self.measured_over_predicted.append(result["train_s"] / result["predicted_s"])
            outcome = f"complete, inner UF1 {value:.3f}"
        elif status == STOPPED:
            self.pruned += 1  # stopped after a rung by ASHA (or by an interruption, then re-run later)
            outcome = f"pruned after {result.get('folds_done')} folds, inner UF1 {value:.3f}"
        elif status == "too_costly":
            self.not_trained += 1
            outcome = f"not trained: {result.get('reason')}"
        else:
            self.failed += 1
            outcome = f"failed: {result.get('error') or 'the worker died'}"
        if result.get("seconds") is not None:
            self.trial_seconds.append(float(result["seconds"]))
        self.done += 1
        self.running -= 1
        self._finished(trial, outcome)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.starts.pop(trial.trial_id, None)
        self.failed += 1
        self.done += 1
        self.running -= 1
        self._finished(trial, "failed: the worker died")

    def _finished(self, trial: Any, outcome: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, description=self.describe())
            return
        number = self.number_of(trial.trial_id)
        name = f"trial {number}" if number is not None else f"trial {trial.trial_id}"
        elapsed = clock(time.monotonic() - self.started)
        line = f"{time.strftime('%H:%M:%S')} {name} {outcome} | {self.done}/{self.budget} done, {self.describe()}, elapsed {elapsed}"
        self.console.print(line, highlight=False, soft_wrap=True, markup=False)

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=self.describe())
