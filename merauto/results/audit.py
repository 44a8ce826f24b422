"""`merauto audit`: what each common evaluation protocol would report for a study's candidates.

The nested estimate chooses everything by inner validation (docs/protocol.md). The other
protocols are the shortcuts the survey (§6.2) warns about, recomputed here from the stored test
predictions so a researcher sees how much each would inflate the number they publish:

- *last epoch*: every test model trained for the trial's maximum epochs, scored once;
- *best test epoch per subject*: per outer fold, the epoch whose test-subject accuracy is best;
- *best trial by test score*: the candidate with the best pooled test UF1 (a grid scored on the test folds);
- *both leaks*: the best trial by test score, each of its folds at its best test epoch.

The epoch-level protocols read the per-epoch test curves a search records with ``--audit``.
Every number here is computed after the search from stored predictions; none reaches a sampler,
pruner, early stopping or selection. Each protocol's difference to the nested estimate comes
with a subject-level paired bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from merauto.errors import MerautoError
from merauto.evaluator.metrics import paired_subject_bootstrap, scores, uf1
from merauto.evaluator.nested import FoldTest
from merauto.results.report.tables import print_rows
from merauto.results.run_dir import load_run
from merauto.results.selection import eligible, per_fold_selection, selected_trial, selection_rule
from merauto.results.store import ResultsStore, StoredTrial

NESTED = "nested (per-fold selection)"
ALL_SOURCES = "all"

FoldPredictions = dict[int, np.ndarray]  # outer fold -> predicted class of each of its test rows


@dataclass(frozen=True)
class Frame:
    """The pooled test rows every protocol predicts: the outer folds in order, each fold's rows in stored order."""

    folds: list[int]
    y_true: np.ndarray
    subjects: np.ndarray
    sources: np.ndarray
    n_classes: int

    def pool(self, predictions: FoldPredictions) -> np.ndarray:
        return np.concatenate([predictions[k] for k in self.folds])


@dataclass(frozen=True)
class Difference:
    """A protocol's score minus the reference's, with its paired subject-bootstrap 95% interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


@dataclass(frozen=True)
class ProtocolResult:
    """What one protocol would report: UF1/UAR overall and per source, each against the reference."""

    name: str
    description: str
    uf1: dict[str, float]  # by source, and ALL_SOURCES
    uar: dict[str, float]
    uf1_difference: dict[str, Difference]
    uar_difference: dict[str, Difference]


@dataclass(frozen=True)
class Unavailable:
    """A protocol the stored results cannot compute, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class CandidateAudit:
    """One candidate (a preset or the selected trial) under its own honest and leaky protocols."""

    trial: int
    label: str
    protocols: list[ProtocolResult]


@dataclass(frozen=True)
class Audit:
    """Every protocol's report for a study, against the nested estimate."""

    frame: Frame
    protocols: list[ProtocolResult]
    unavailable: list[Unavailable]
    candidates: list[CandidateAudit] = field(default_factory=list)
    recorded: bool = False  # whether the trials hold per-epoch test curves (searched with --audit)


def _test_folds(trial: StoredTrial) -> dict[int, FoldTest]:
    return {f.test.fold: f.test for f in trial.outcome.folds}


def nested_predictions(trial: StoredTrial) -> FoldPredictions:
    """The trial's stored test predictions: each fold's test model at the epochs inner validation chose."""
    return {k: np.asarray(t.y_pred, int) for k, t in _test_folds(trial).items()}


def has_curves(trial: StoredTrial) -> bool:
    """Whether every fold of ``trial`` recorded its per-epoch test predictions (``--audit``)."""
    return all(f.test.curve for f in trial.outcome.folds)


def last_epoch_predictions(trial: StoredTrial) -> FoldPredictions:
    """Each fold's test predictions after the last (maximum) epoch: no validation at all."""
    return {k: np.asarray(t.curve[-1], int) for k, t in _test_folds(trial).items()}


def best_test_epoch_predictions(trial: StoredTrial) -> FoldPredictions:
    """Each fold's test predictions at the epoch with the most correct test predictions (the
    earliest such epoch): the test subject chooses its own stopping epoch."""
    chosen = {}
    for k, test in _test_folds(trial).items():
        curve = np.asarray(test.curve, int)
        correct = (curve == np.asarray(test.y_true, int)[None, :]).sum(axis=1)
        chosen[k] = curve[int(np.argmax(correct))]
    return chosen


def _frame(trial: StoredTrial) -> Frame:
    tests = _test_folds(trial)
    folds = sorted(tests)
    return Frame(
        folds,
        np.concatenate([np.asarray(tests[k].y_true, int) for k in folds]),
        np.concatenate([np.asarray(tests[k].subjects) for k in folds]),
        np.concatenate([np.asarray(tests[k].sources) for k in folds]),
        len(trial.outcome.classes),
    )


def _compare(
    frame: Frame, name: str, description: str, predictions: FoldPredictions, reference: FoldPredictions, n_resamples: int
) -> ProtocolResult:
    """Scores of ``predictions`` overall and per source, with paired intervals of the difference to ``reference``."""
    pred, ref = frame.pool(predictions), frame.pool(reference)
    groups = {ALL_SOURCES: np.ones(len(pred), bool)}
    if len(set(frame.sources.tolist())) > 1:
        groups.update({str(s): frame.sources == s for s in sorted(set(frame.sources.tolist()))})
    values: dict[str, dict[str, float]] = {"uf1": {}, "uar": {}}
    differences: dict[str, dict[str, Difference]] = {"uf1": {}, "uar": {}}
    for group, rows in groups.items():
        mine = scores(frame.y_true[rows], pred[rows], frame.n_classes)
        theirs = scores(frame.y_true[rows], ref[rows], frame.n_classes)
        intervals = paired_subject_bootstrap(frame.y_true[rows], pred[rows], ref[rows], frame.subjects[rows], frame.n_classes, n_resamples)
        for metric in ("uf1", "uar"):
            values[metric][group] = mine[metric]
            differences[metric][group] = Difference(mine[metric] - theirs[metric], *intervals[metric])
    return ProtocolResult(name, description, values["uf1"], values["uar"], differences["uf1"], differences["uar"])


def _best_by_test(pool: list[StoredTrial], frame: Frame, predict: Callable[[StoredTrial], FoldPredictions]) -> StoredTrial:
    """The trial whose pooled test UF1 under ``predict`` is best (ties to the earlier trial)."""
    return max(pool, key=lambda t: (uf1(frame.y_true, frame.pool(predict(t)), frame.n_classes), -t.number))


def audit_study(trials: list[StoredTrial], n_resamples: int = 1000) -> Audit | None:
    """Every protocol's pooled test scores for the study's eligible trials, against the nested
    estimate; ``None`` while no trial evaluated every fold."""
    pool = eligible(trials)
    if not pool:
        return None
    frame = _frame(pool[0])
    nested = per_fold_selection(pool)
    by_number = {t.number: t for t in pool}
    reference = {k: nested_predictions(by_number[n])[k] for k, n in nested.fold_trials.items()}
    selected = selected_trial(pool)
    grid_best = _best_by_test(pool, frame, nested_predictions)
    rows = [
        (NESTED, nested.description, reference),
        ("global selection", f"trial {selected.number}, {selection_rule(selected)} (exported)", nested_predictions(selected)),
        ("best trial by test score", f"trial {grid_best.number} of {len(pool)}: best pooled test UF1", nested_predictions(grid_best)),
    ]
    unavailable = []
    curved = [t for t in pool if has_curves(t)]
    if has_curves(selected):
        last = last_epoch_predictions(selected)
        rows.insert(2, ("last epoch", f"trial {selected.number}, each test model after its maximum epochs", last))
        rows.insert(
            3,
            (
                "best test epoch per subject",
                f"trial {selected.number}, each fold at the epoch its test subject scored best",
                best_test_epoch_predictions(selected),
            ),
        )
    else:
        reason = "the trials hold no per-epoch test curves: search with --audit to record them"
        unavailable += [Unavailable("last epoch", reason), Unavailable("best test epoch per subject", reason)]
    if curved:
        both = _best_by_test(curved, frame, best_test_epoch_predictions)
        rows.append(
            (
                "both leaks",
                f"trial {both.number} of {len(curved)}: best pooled test UF1 with each fold at its best test epoch",
                best_test_epoch_predictions(both),
            )
        )
    else:
        unavailable.append(Unavailable("both leaks", "the trials hold no per-epoch test curves: search with --audit to record them"))
    protocols = [_compare(frame, name, description, predictions, reference, n_resamples) for name, description, predictions in rows]
    candidates = [_candidate(frame, t, selected, n_resamples) for t in _candidate_trials(pool, selected) if has_curves(t)]
    return Audit(frame, protocols, unavailable, candidates, recorded=bool(curved))


def _candidate_trials(pool: list[StoredTrial], selected: StoredTrial) -> list[StoredTrial]:
    """The selected trial, then every preset trial (the published pipelines)."""
    return [selected] + [t for t in pool if t.preset and t.number != selected.number]


def _candidate(frame: Frame, trial: StoredTrial, selected: StoredTrial, n_resamples: int) -> CandidateAudit:
    """One trial's honest predictions against its own last-epoch and best-test-epoch predictions."""
    honest = nested_predictions(trial)
    rows = [
        ("inner-validation epochs", "its test models at the epochs inner validation chose", honest),
        ("last epoch", "its test models after the maximum epochs", last_epoch_predictions(trial)),
        ("best test epoch per subject", "each fold at the epoch its test subject scored best", best_test_epoch_predictions(trial)),
    ]
    label = f"preset {trial.preset}" if trial.preset else "selected pipeline"
    label = f"selected pipeline ({label})" if trial.preset and trial is selected else label
    return CandidateAudit(trial.number, label, [_compare(frame, *row, honest, n_resamples) for row in rows])


def source_names(audit: Audit) -> list[str]:
    """The groups every protocol is scored on: all rows, then each source (where there are several)."""
    return list(audit.protocols[0].uf1)


def protocol_records(audit: Audit) -> list[dict[str, Any]]:
    """The audit table as numbers: per protocol its UF1 and UAR, their differences to the nested estimate
    with paired 95% intervals (``uf1_vs_nested``, ``_low``, ``_high``; ``None`` on the nested row itself,
    the reference), its UF1 per source with the difference, and ``how`` it chose; then each protocol the
    stored results cannot compute, its scores ``None`` and ``how`` saying why."""
    records: list[dict[str, Any]] = []
    for p in audit.protocols:
        record: dict[str, Any] = {"protocol": p.name}
        for metric in ("uf1", "uar"):
            difference = None if p.name == NESTED else getattr(p, f"{metric}_difference")[ALL_SOURCES]
            record[metric] = getattr(p, metric)[ALL_SOURCES]
            record[f"{metric}_vs_nested"] = None if difference is None else difference.value
            record[f"{metric}_vs_nested_low"] = None if difference is None else difference.low
            record[f"{metric}_vs_nested_high"] = None if difference is None else difference.high
        for source in source_names(audit)[1:]:
            record[f"uf1_{source}"] = p.uf1[source]
            record[f"uf1_{source}_vs_nested"] = None if p.name == NESTED else p.uf1_difference[source].value
        record["how"] = p.description
        records.append(record)
    for missing in audit.unavailable:
        records.append({"protocol": missing.name, "uf1": None, "uar": None, "how": missing.reason})
    return records


def _difference(record: dict[str, Any], key: str) -> str:
    if record[key] is None:
        return "reference"
    return str(Difference(record[key], record[f"{key}_low"], record[f"{key}_high"]))


def protocol_rows(audit: Audit) -> list[dict[str, str]]:
    """The audit table as text (:func:`protocol_records`): UF1/UAR and per-source UF1 with differences to the nested estimate."""
    rows = []
    for r in protocol_records(audit):
        if r["uf1"] is None:
            rows.append({"protocol": r["protocol"], "UF1": "-", "how": r["how"]})
            continue
        row = {
            "protocol": r["protocol"],
            "UF1": f"{r['uf1']:.3f}",
            "ΔUF1 vs nested [95% CI]": _difference(r, "uf1_vs_nested"),
            "UAR": f"{r['uar']:.3f}",
            "ΔUAR vs nested [95% CI]": _difference(r, "uar_vs_nested"),
        }
        for source in source_names(audit)[1:]:
            delta = r[f"uf1_{source}_vs_nested"]
            row[f"UF1 {source}"] = f"{r[f'uf1_{source}']:.3f}" + ("" if delta is None else f" ({delta:+.3f})")
        row["how"] = r["how"]
        rows.append(row)
    return rows


def candidate_rows(audit: Audit) -> list[dict[str, str]]:
    """Per candidate: its honest UF1 and what the epoch-level shortcuts would report for it."""
    rows = []
    for c in audit.candidates:
        honest, last, best = c.protocols
        rows.append(
            {
                "trial": str(c.trial),
                "candidate": c.label,
                "honest UF1": f"{honest.uf1[ALL_SOURCES]:.3f}",
                "last epoch UF1": f"{last.uf1[ALL_SOURCES]:.3f}",
                "Δ last epoch [95% CI]": str(last.uf1_difference[ALL_SOURCES]),
                "best test epoch UF1": f"{best.uf1[ALL_SOURCES]:.3f}",
                "Δ best test epoch [95% CI]": str(best.uf1_difference[ALL_SOURCES]),
            }
        )
    return rows


def load_audit(run_dir: Path, n_resamples: int = 1000) -> Audit:
    """The audit of a run directory's study, or a clear error when there is nothing to audit."""
    info = load_run(run_dir)
    if info.strict:
        raise MerautoError(
            f"{run_dir} is a strict run: each outer fold has its own study, so no candidate was evaluated on every fold",
            "audit a run searched without --strict (merauto search --audit ...)",
        )
    audit = audit_study(ResultsStore(run_dir).trials(info.study_name), n_resamples)
    if audit is None:
        raise MerautoError(f"{run_dir} has no trial evaluated on every outer fold yet", "run merauto search until a trial completes")
    return audit


def print_audit(audit: Audit, console: Console) -> None:
    """The protocol table (how each protocol chose, below it) and the per-candidate table, on the terminal."""
    rows = protocol_rows(audit)
    title = "what each protocol would report (pooled over all test subjects; Δ: paired subject bootstrap)"
    print_rows(console, title, rows, [c for c in rows[0] if c != "how"])
    for row in rows:
        console.print(f"  {row['protocol']}: {row['how']}", highlight=False)
    print_rows(console, "per candidate: honest UF1 vs epoch-level shortcuts", candidate_rows(audit))
