"""A spotting run's finished trials (``spot_results.json`` in the run directory): the spotter and its
parameters, inner F1, and each outer fold's thresholds with its inner and test counts and the
intervals spotted in the test subject's videos. Only the search writes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from merauto.data.long_videos.folders import Interval
from merauto.evaluator.spotting import SpotOutcome, Spotted
from merauto.evaluator.spotting_metrics import SpotCounts

RESULTS = "spot_results.json"


@dataclass(frozen=True)
class SpotTrial:
    """A finished spotter trial: its spotter and parameters, inner F1 and every fold's thresholds, counts and intervals."""

    number: int
    params: dict[str, Any]  # {"spotter": name, **its hyper-parameters}; results written before spotters were registered lack "spotter"
    objective: float
    folds: list[dict[str, Any]]

    @property
    def spotter(self) -> str:
        return str(self.params.get("spotter", "optical-flow"))

    @property
    def spotter_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k != "spotter"}

    def spotted(self, subject: str) -> dict[str, list[Spotted]]:
        """The intervals this trial's fold that tests ``subject`` spotted in each of its videos."""
        fold = next(f for f in self.folds if f["subject"] == subject)
        return {
            video: [Spotted(Interval(start, end, kind), apex, score) for start, end, kind, apex, score in rows]
            for video, rows in fold.get("spotted", {}).items()
        }

    def test_by_subject(self, kind: str = "overall") -> dict[str, SpotCounts]:
        return {f["subject"]: SpotCounts(**f["test"][kind]) if kind in f["test"] else SpotCounts() for f in self.folds}

    def inner_f1(self, subject: str) -> float:
        fold = next(f for f in self.folds if f["subject"] == subject)
        return SpotCounts(**fold["inner"]["overall"]).f1


def spot_record(number: int, params: dict[str, Any], outcome: SpotOutcome) -> SpotTrial:
    """The stored form of a finished trial."""
    folds = [
        {
            "subject": f.subject,
            "thresholds": f.thresholds,
            "inner": {k: asdict(c) for k, c in f.inner.items()},
            "test": {k: asdict(c) for k, c in f.test.items()},
            "spotted": {
                video: [[s.interval.start, s.interval.end, s.interval.kind, s.apex, round(s.score, 6)] for s in found]
                for video, found in f.spotted.items()
            },
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
