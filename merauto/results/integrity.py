"""Whether a study and its results store agree, after any number of crashes and reruns.

A search that was killed and resumed must end with each trial counted once (a trial run again
after an interruption replaces it), every counted trial's results stored, and nothing stored
for a trial that does not count (but the proposals refused for their predicted cost, stored as
never trained). The report prints a warning when this does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from merauto.results.storage import NOT_TRAINED_ATTR, PRESET_ATTR, RETRY_OF_ATTR, counted_trials
from merauto.results.store import StoredTrial

STORED_STATE = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


@dataclass(frozen=True)
class Integrity:
    """Counted trials, and the trial numbers that break the agreement (each list empty when it holds)."""

    counted: int
    counted_twice: list[int]  # a run again of a trial that also counts, or a preset counted twice
    lost: list[int]  # counted, but its results are not stored (or stored with another state)
    stray: list[int]  # stored, but the trial does not count
    running: list[int]  # still RUNNING in the study

    @property
    def ok(self) -> bool:
        return not (self.counted_twice or self.lost or self.stray)

    def describe(self) -> str:
        problems = [f"{name} {numbers}" for name, numbers in self.__dict__.items() if isinstance(numbers, list) and numbers]
        return f"{self.counted} trials counted" + (f"; {', '.join(problems)}" if problems else ", each once, every result stored")


def check_integrity(study: optuna.Study, stored: list[StoredTrial]) -> Integrity:
    """Compare ``study``'s trials with the results store's records of them."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    counted = counted_trials(study)

    def original(number: int) -> int:
        while (earlier := trials[number].user_attrs.get(RETRY_OF_ATTR)) is not None:
            number = earlier
        return number

    seen: dict[object, int] = {}
    twice = []
    for trial in counted:
        key = trial.user_attrs.get(PRESET_ATTR) or original(trial.number)
        if key in seen:
            twice.append(trial.number)
        seen[key] = trial.number
    records = {t.number: t for t in stored}
    lost = [t.number for t in counted if t.number not in records or records[t.number].state != STORED_STATE[t.state]]
    numbers = {t.number for t in counted}
    refused = {n for n, t in trials.items() if NOT_TRAINED_ATTR in t.user_attrs and t.state == TrialState.PRUNED}
    stray = sorted(n for n, r in records.items() if n not in numbers and not (n in refused and r.state == "pruned" and r.outcome is None))
    running = [t.number for t in trials.values() if t.state == TrialState.RUNNING]
    return Integrity(len(counted), twice, lost, stray, running)
