"""What a spotting run found: its selections' pooled test F1 per expression type, with
subject-bootstrap intervals, chosen on inner scores only (as for recognition, docs/protocol.md).

- *global selection*: the trial with the best pooled inner F1, its test counts on every fold;
- *per-fold selection* (the nested estimate): for each test subject, the trial whose inner F1 in
  that subject's fold is best, and that fold's test counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Console

from merauto.evaluator.spotting_metrics import SpotCounts, subject_bootstrap_f1
from merauto.results.report.tables import print_rows
from merauto.results.spotting.store import SpotTrial

KINDS = ("micro", "macro", "overall")


@dataclass(frozen=True)
class SpotEstimate:
    """Pooled test counts of a selection rule, per expression type and subject."""

    name: str
    description: str
    by_subject: dict[str, dict[str, SpotCounts]]  # kind -> subject -> counts

    def pooled(self, kind: str) -> SpotCounts:
        return sum(self.by_subject[kind].values(), SpotCounts())


def _fold_test(trial: SpotTrial, subject: str, kind: str) -> SpotCounts:
    fold = next(f for f in trial.folds if f["subject"] == subject)
    return SpotCounts(**fold["test"][kind]) if kind in fold["test"] else SpotCounts()


def _named(trials: Iterable[SpotTrial]) -> str:
    """``'3 (shallow-cnn), 7 (optical-flow)'``: each distinct trial by number, with its spotter."""
    return ", ".join(f"{t.number} ({t.spotter})" for t in sorted({t.number: t for t in trials}.values(), key=lambda t: t.number))


def per_fold_choice(trials: list[SpotTrial]) -> dict[str, SpotTrial]:
    """For each test subject, the trial whose inner F1 in that subject's fold is best (ties to the earlier trial)."""
    subjects = [f["subject"] for f in trials[0].folds] if trials else []
    return {s: max(trials, key=lambda t, s=s: (t.inner_f1(s), -t.number)) for s in subjects}


def spot_estimates(trials: list[SpotTrial]) -> list[SpotEstimate]:
    """The global and the per-fold selection of ``trials`` (none while no trial finished)."""
    if not trials:
        return []
    best = max(trials, key=lambda t: (t.objective, -t.number))
    subjects = [f["subject"] for f in best.folds]
    chosen = per_fold_choice(trials)
    return [
        SpotEstimate(
            "global selection",
            f"trial {best.number} ({best.spotter}), best pooled inner F1 ({best.objective:.3f})",
            {k: {s: _fold_test(best, s, k) for s in subjects} for k in KINDS},
        ),
        SpotEstimate(
            "per-fold selection",
            f"nested estimate; per test subject the best inner F1 of its fold (trials {_named(chosen.values())})",
            {k: {s: _fold_test(chosen[s], s, k) for s in subjects} for k in KINDS},
        ),
    ]


def spot_rows(estimates: list[SpotEstimate], n_resamples: int = 1000) -> list[dict[str, str]]:
    """One row per estimate and type: F1 with its subject-bootstrap interval, precision, recall and counts."""
    rows = []
    for e in estimates:
        for kind in KINDS:
            c = e.pooled(kind)
            low, high = subject_bootstrap_f1(e.by_subject[kind], n_resamples)
            rows.append(
                {
                    "estimate": e.name,
                    "type": kind,
                    "F1 [95% CI]": f"{c.f1:.3f} [{low:.3f}, {high:.3f}]",
                    "precision": f"{c.precision:.3f}",
                    "recall": f"{c.recall:.3f}",
                    "TP / FP / FN": f"{c.tp} / {c.fp} / {c.fn}",
                    "how": e.description if kind == "overall" else "",
                }
            )
    return rows


def subject_rows(trials: list[SpotTrial]) -> list[dict[str, str]]:
    """The nested estimate subject by subject: the trial its fold selected, and that fold's test F1 and counts per type."""
    rows = []
    for subject, trial in per_fold_choice(trials).items():
        row = {"test subject": subject, "selected trial": f"{trial.number} ({trial.spotter})", "inner F1": f"{trial.inner_f1(subject):.3f}"}
        for kind in KINDS:
            c = _fold_test(trial, subject, kind)
            row[f"{kind} F1 (TP/FP/FN)"] = f"{c.f1:.3f} ({c.tp}/{c.fp}/{c.fn})"
        rows.append(row)
    return rows


def print_spot_report(trials: list[SpotTrial], console: Console, n_resamples: int = 1000) -> None:
    """The selections' pooled test scores at IoU >= 0.5, and the nested estimate per test subject, on the terminal."""
    print_rows(
        console,
        f"spotting at IoU >= 0.5 over {len(trials)} trials (pooled over test subjects)",
        spot_rows(spot_estimates(trials), n_resamples),
    )
    print_rows(console, "per-fold selection, subject by subject (each fold's test subject)", subject_rows(trials))
