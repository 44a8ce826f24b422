"""Ensembles of a search's trials, selected on inner validation only (Caruana et al., 2004).

Greedy forward selection with replacement: start empty; at each of ``size`` steps add the
trial whose inner-validation class probabilities, averaged with those already in, give the
best UF1; keep the best-scoring prefix (ties to the smaller ensemble). Members are counted
with repetition, so a member picked twice weighs twice.

- **Per-fold ensemble** (the nested estimate): for outer fold k the members are chosen on
  fold k's inner-validation predictions only; fold k's test prediction averages the members'
  stored fold-k test probabilities. Nothing is retrained, and fold k's test subject never
  informs which members fold k uses (the leakage invariant, tests/test_leakage.py).
- **Global ensemble**: members chosen on the inner predictions pooled over every fold, then
  applied to every fold; like the global selection it is slightly optimistic.

Each is compared with the best single trial chosen the same way (per-fold or global selection)
by a paired subject-bootstrap interval of the difference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from merauto.errors import MerautoError
from merauto.evaluator.metrics import paired_subject_bootstrap, uf1
from merauto.evaluator.nested import FoldSelection
from merauto.results.arguments import DEFAULT_SIZE
from merauto.results.report.tables import print_rows
from merauto.results.run_dir import load_run
from merauto.results.selection import Estimate, eligible, global_selection, per_fold_selection
from merauto.results.store import ResultsStore, StoredTrial


def greedy_selection(probs: list[np.ndarray], y_true: np.ndarray, n_classes: int, size: int) -> Counter[int]:
    """Caruana's forward selection with replacement over candidates' class probabilities (rows
    aligned with ``y_true``): each candidate index with how many times it was picked, for the
    best-scoring of the ``size`` prefixes (ties to the earlier candidate and the shorter prefix)."""
    total = np.zeros_like(probs[0], dtype=float)
    picks: list[int] = []
    best_score, best_length = -1.0, 0
    for _ in range(size):
        step_scores = [uf1(y_true, (total + p).argmax(1), n_classes) for p in probs]
        pick = int(np.argmax(step_scores))  # the first of ties
        picks.append(pick)
        total += probs[pick]
        if step_scores[pick] > best_score:
            best_score, best_length = step_scores[pick], len(picks)
    return Counter(picks[:best_length])


@dataclass(frozen=True)
class EnsembleResult:
    """An ensemble's pooled test predictions, its members and its difference to the best single trial."""

    estimate: Estimate
    members: dict[int, dict[int, int]]  # outer fold -> {trial number: times picked}
    single: Estimate  # the best single trial chosen the same way
    difference: dict[str, tuple[float, float]]  # 95% paired subject-bootstrap interval of ensemble - single (uf1, uar)

    def mean_size(self) -> float:
        """Distinct members per fold, on average."""
        return float(np.mean([len(fold) for fold in self.members.values()]))


def _candidates(trials: list[StoredTrial]) -> list[StoredTrial]:
    """Eligible trials that stored inner-validation probabilities on every fold (older runs did not)."""
    return [t for t in eligible(trials) if all(f.selection.inner_probs for f in t.outcome.folds)]


def _selections(trial: StoredTrial) -> dict[int, FoldSelection]:
    return {f.selection.fold: f.selection for f in trial.outcome.folds}


def _aligned(pool: list[StoredTrial], fold: int) -> list[StoredTrial]:
    """The trials whose fold-``fold`` inner validation holds the same rows in the same order as the first's."""
    ids = _selections(pool[0])[fold].inner_ids
    return [t for t in pool if _selections(t)[fold].inner_ids == ids]


def _pool(name: str, description: str, pool: list[StoredTrial], members: dict[int, Counter[int]]) -> Estimate:
    """Fold k's test prediction: the members' stored fold-k test probabilities, weighted by their counts."""
    by_number = {t.number: t for t in pool}
    true, pred, subjects, sources = [], [], [], []
    for fold, counts in sorted(members.items()):
        tests = {n: next(f.test for f in by_number[n].outcome.folds if f.test.fold == fold) for n in counts}
        first = tests[next(iter(counts))]
        total = sum(count * np.asarray(tests[n].probs, float) for n, count in counts.items())
        true += first.y_true
        pred += np.asarray(total).argmax(1).tolist()
        subjects += first.subjects
        sources += first.sources
    heaviest = {fold: counts.most_common(1)[0][0] for fold, counts in members.items()}
    return Estimate(
        name,
        description,
        heaviest,
        np.array(true, int),
        np.array(pred, int),
        np.array(subjects),
        np.array(sources),
        pool[0].outcome.classes,
        {fold: dict(sorted(counts.items())) for fold, counts in members.items()},
    )


def _result(estimate: Estimate, single: Estimate, n_resamples: int) -> EnsembleResult:
    difference = paired_subject_bootstrap(
        estimate.y_true, estimate.y_pred, single.y_pred, estimate.subjects, len(estimate.classes), n_resamples
    )
    return EnsembleResult(estimate, estimate.fold_members or {}, single, difference)


def per_fold_ensemble(trials: list[StoredTrial], size: int = DEFAULT_SIZE, n_resamples: int = 1000) -> EnsembleResult | None:
    """For each outer fold, an ensemble chosen on that fold's inner validation only (the nested estimate)."""
    pool = _candidates(trials)
    single = per_fold_selection(trials)
    if len(pool) < 2 or single is None:
        return None
    members: dict[int, Counter[int]] = {}
    for fold in sorted(_selections(pool[0])):
        aligned = _aligned(pool, fold)
        selections = [_selections(t)[fold] for t in aligned]
        probs = [np.asarray(s.inner_probs, float) for s in selections]
        picks = greedy_selection(probs, np.asarray(selections[0].inner_true), len(pool[0].outcome.classes), size)
        members[fold] = Counter({aligned[i].number: count for i, count in picks.items()})
    description = f"nested estimate; per fold, forward selection of up to {size} picks on that fold's inner validation"
    return _result(_pool("per-fold ensemble", description, pool, members), single, n_resamples)


def global_ensemble(trials: list[StoredTrial], size: int = DEFAULT_SIZE, n_resamples: int = 1000) -> EnsembleResult | None:
    """One ensemble chosen on the inner predictions pooled over every fold, applied to every fold (slightly optimistic)."""
    pool = _candidates(trials)
    single = global_selection(trials)
    if len(pool) < 2 or single is None:
        return None
    folds = sorted(_selections(pool[0]))
    in_every = set.intersection(*({t.number for t in _aligned(pool, fold)} for fold in folds))
    aligned = [t for t in pool if t.number in in_every]
    probs = [np.concatenate([np.asarray(_selections(t)[k].inner_probs, float) for k in folds]) for t in aligned]
    true = np.concatenate([_selections(aligned[0])[k].inner_true for k in folds])
    picks = greedy_selection(probs, true, len(pool[0].outcome.classes), size)
    counts = Counter({aligned[i].number: count for i, count in picks.items()})
    members = dict.fromkeys(folds, counts)
    description = f"forward selection of up to {size} picks on the pooled inner validation of every fold; slightly optimistic"
    return _result(_pool("global ensemble", description, pool, members), single, n_resamples)


def ensembles(trials: list[StoredTrial], size: int = DEFAULT_SIZE, n_resamples: int = 1000) -> list[EnsembleResult]:
    """The per-fold (nested) and global ensembles of a study's trials, where it has at least two candidates."""
    found = (per_fold_ensemble(trials, size, n_resamples), global_ensemble(trials, size, n_resamples))
    return [e for e in found if e is not None]


def load_ensembles(run_dir: Path, size: int = DEFAULT_SIZE, n_resamples: int = 1000) -> list[EnsembleResult]:
    """The ensembles of a run directory's study, or a clear error when it cannot have any."""
    info = load_run(run_dir)
    if info.strict:
        raise MerautoError(
            f"{run_dir} is a strict run: each outer fold has its own study, so no candidate was evaluated on every fold",
            "ensemble a run searched without --strict",
        )
    trials = ResultsStore(run_dir).trials(info.study_name)
    found = ensembles(trials, size, n_resamples)
    if not found:
        with_probs = len(_candidates(trials))
        raise MerautoError(
            f"{run_dir} has {with_probs} trial(s) evaluated on every outer fold with stored inner-validation probabilities; "
            "an ensemble needs two",
            "run merauto search until two trials complete (runs searched before merauto stored the probabilities need a new search)",
        )
    return found


def ensemble_record(result: EnsembleResult) -> dict[str, Any]:
    """An ensemble as numbers: pooled UF1 and UAR with 95% subject-bootstrap intervals (``uf1``,
    ``uf1_low``, ``uf1_high``, ...), UF1 per source (``uf1_SOURCE``), the best single trial chosen the
    same way and the difference to it with its paired interval (``uf1_vs_single``, ...), its members."""
    e, single = result.estimate, result.single
    ci, delta = e.intervals(), result.difference
    record: dict[str, Any] = {"ensemble": e.name}
    for metric in ("uf1", "uar"):
        record[metric], (record[f"{metric}_low"], record[f"{metric}_high"]) = e.scores[metric], ci[metric]
    record.update({f"uf1_{source}": scores["uf1"] for source, scores in e.by_source.items()})
    record["best_single"], record["best_single_uf1"] = single.name, single.scores["uf1"]
    for metric in ("uf1", "uar"):
        record[f"{metric}_vs_single"] = e.scores[metric] - single.scores[metric]
        record[f"{metric}_vs_single_low"], record[f"{metric}_vs_single_high"] = delta[metric]
    record["members"], record["how"] = _members_text(result), e.description
    return record


def _interval(record: dict[str, Any], key: str) -> str:
    return f"{record[key]:.3f} [{record[f'{key}_low']:.3f}, {record[f'{key}_high']:.3f}]"


def ensemble_rows(results: list[EnsembleResult]) -> list[dict[str, str]]:
    """One row per ensemble as text (:func:`ensemble_record`): its pooled scores with subject-bootstrap
    intervals, per source, and against the best single trial."""
    rows = []
    for result in results:
        r = ensemble_record(result)
        rows.append(
            {
                "ensemble": r["ensemble"],
                "UF1 [95% CI]": _interval(r, "uf1"),
                "UAR [95% CI]": _interval(r, "uar"),
                "UF1 per source": ", ".join(f"{k} {r[f'uf1_{k}']:.3f}" for k in result.estimate.by_source),
                "best single": f"{r['best_single']} {r['best_single_uf1']:.3f}",
                "Δ UF1 [95% CI]": _interval(r, "uf1_vs_single"),
                "Δ UAR [95% CI]": _interval(r, "uar_vs_single"),
                "members": r["members"],
            }
        )
    return rows


def _members_text(result: EnsembleResult) -> str:
    """The members in words: the one ensemble of a global selection, or how often each trial is a per-fold member."""
    folds = list(result.members.values())
    if all(fold == folds[0] for fold in folds):
        return ", ".join(f"trial {n}×{c}" for n, c in folds[0].items())
    share = Counter(n for fold in folds for n in fold)
    common = ", ".join(f"trial {n} in {c}/{len(folds)} folds" for n, c in share.most_common(5))
    return f"{result.mean_size():.1f} distinct per fold; {common}"


def print_ensembles(results: list[EnsembleResult], console: Console) -> None:
    """The ensemble table and how each ensemble chose, on the terminal."""
    title = "ensembles of the search's trials (pooled over all test subjects; Δ: paired subject bootstrap)"
    rows = ensemble_rows(results)
    print_rows(console, title, rows, [c for c in rows[0] if c != "members"])
    for result, row in zip(results, rows, strict=True):
        console.print(f"  {result.estimate.name}: {result.estimate.description}; members: {row['members']}", highlight=False)
