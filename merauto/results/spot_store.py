"""A spotting run's finished trials (``spot_results.json`` in the run directory): parameters, inner F1,
and each outer fold's thresholds with its inner and test counts. Only the search writes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from merauto.evaluator.spotting import SpotOutcome
from merauto.evaluator.spotting_metrics import SpotCounts

RESULTS = "spot_results.json"


@dataclass(frozen=True)
class SpotTrial:
    """A finished spotter trial: its parameters, inner F1 and every fold's thresholds and counts."""

    number: int
    params: dict[str, float]
    objective: float
    folds: list[dict[str, Any]]

    def test_by_subject(self, kind: str = "overall") -> dict[str, SpotCounts]:
        return {f["subject"]: SpotCounts(**f["test"][kind]) if kind in f["test"] else SpotCounts() for f in self.folds}

    def inner_f1(self, subject: str) -> float:
        fold = next(f for f in self.folds if f["subject"] == subject)
        return SpotCounts(**fold["inner"]["overall"]).f1


def spot_record(number: int, params: dict[str, float], outcome: SpotOutcome) -> SpotTrial:
    """The stored form of a finished trial."""
    folds = [
        {
            "subject": f.subject,
            "thresholds": f.thresholds,
            "inner": {k: asdict(c) for k, c in f.inner.items()},
            "test": {k: asdict(c) for k, c in f.test.items()},
        }
        for f in outcome.folds
    ]
    return SpotTrial(number, params, outcome.objective(), folds)


def load_spot_trials(run_dir: Path) -> list[SpotTrial]:
    """The finished trials of a spotting run, by number."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        return []
    return [SpotTrial(**t) for t in json.loads(path.read_text())]
