"""Multi-fidelity over outer folds: nested, stratified fold subsets ("rungs") fixed per study.

A trial is scored on rung 1's folds first, then on the folds rung 2 adds, and so on to all
folds. Each rung's score is the pooled inner-validation UF1 over its folds, so every trial
is compared on the same folds, and a scheduler can stop hopeless trials after a cheap rung:
Ray Tune's ASHA (``asha``: below the rung's top 1/ETA so far) or racing (``race``: on the
rung's folds, significantly below the rung's leader). Only trials that reached the last rung
(all folds) can be selected.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from merauto.errors import MerautoError
from merauto.evaluator.protocol import OuterFold

MIN_RUNG_FOLDS = 4  # a smaller first rung ranks trials by too few inner validations
DEFAULT_REDUCTION = 4  # 68 folds: rungs of 5, 17, 68 (benchmarks/asha_fold_savings.py: ~4.7x fewer fold-trainings; 3 gives ~3.2x)
DEFAULT_ALPHA = 0.05  # racing: a trial stops when it is below the rung's leader at this significance (benchmarks/README.md)


def rung_sizes(n_folds: int, reduction: int, min_folds: int) -> list[int]:
    """Fold counts of the rungs: n/eta^(r-1), ..., n/eta, n, none below ``min_folds``."""
    if n_folds <= min_folds or reduction < 2:
        return [n_folds]
    n_rungs = 1 + int(math.floor(math.log(n_folds / min_folds, reduction) + 1e-9))
    sizes = {n_folds}
    for r in range(1, n_rungs):
        sizes.add(max(min_folds, math.ceil(n_folds / reduction**r)))
    return sorted(sizes)


def fold_rungs(
    folds: list[OuterFold], sources: np.ndarray, seed: int, reduction: int = DEFAULT_REDUCTION, min_folds: int = MIN_RUNG_FOLDS
) -> list[list[int]]:
    """Nested fold subsets, each a prefix of one order that interleaves the sources.

    Folds are shuffled (seeded) within their majority source, then taken round-robin across
    sources, so every rung holds the sources in about their proportions.
    """
    rng = np.random.default_rng([seed, 17])
    by_source: dict[str, list[int]] = {}
    for index, fold in enumerate(folds):
        source = Counter(sources[fold.test].tolist()).most_common(1)[0][0]
        by_source.setdefault(str(source), []).append(index)
    queues = {s: list(rng.permutation(members)) for s, members in sorted(by_source.items())}
    total = len(folds)
    order: list[int] = []
    credit = dict.fromkeys(queues, 0.0)
    while len(order) < total:  # largest-remainder interleaving keeps every prefix proportional
        for source in queues:
            credit[source] += len(by_source[source]) / total
        source = max((s for s in queues if queues[s]), key=lambda s: (credit[s], s))
        credit[source] -= 1
        order.append(int(queues[source].pop(0)))
    return [sorted(order[:size]) for size in rung_sizes(total, reduction, min_folds)]


@dataclass(frozen=True)
class Pruning:
    """A multi-fidelity scheme over fold rungs: ``asha`` (Ray Tune's ASHA) or ``race`` (paired racing).

    Both score trials on the same rungs (``reduction`` sets their sizes); ``alpha`` is racing's
    significance level.
    """

    kind: str
    reduction: int = DEFAULT_REDUCTION
    alpha: float = DEFAULT_ALPHA


def parse_pruning(text: str) -> Pruning | None:
    """``none`` -> None; ``asha`` or ``asha:ETA`` (reduction factor ETA); ``race`` or ``race:ALPHA``."""
    kind, _, value = text.partition(":")
    if kind == "none" and not value:
        return None
    if kind == "asha" and (not value or (value.isdigit() and int(value) >= 2)):
        return Pruning("asha", int(value or DEFAULT_REDUCTION))
    if kind == "race" and (not value or _is_probability(value)):
        return Pruning("race", alpha=float(value or DEFAULT_ALPHA))
    fix = (
        f"use none, asha (reduction factor {DEFAULT_REDUCTION}), asha:ETA with ETA>=2, "
        f"race (alpha {DEFAULT_ALPHA}) or race:ALPHA with 0<ALPHA<1"
    )
    raise MerautoError(f"--pruning {text!r} is not a pruning scheme", fix)


def _is_probability(text: str) -> bool:
    try:
        return 0 < float(text) < 1
    except ValueError:
        return False


def racing_stops(scores: Sequence[float], leader: Sequence[float], alpha: float) -> bool:
    """Whether a trial is stopped by racing: its per-fold inner UF1 on a rung's folds is below the
    rung leader's on the same folds (in the same order) by a one-sided paired t-test at ``alpha``.

    Folds are the paired instances, as in F-Race and irace. A trial ahead of the leader on
    average, or with a single fold, is never stopped; one behind on every fold by the same
    margin (no variance) is.
    """
    from scipy.stats import ttest_rel

    differences = np.asarray(scores, dtype=float) - np.asarray(leader, dtype=float)
    if len(differences) < 2 or differences.mean() >= 0:
        return False
    if np.ptp(differences) == 0:
        return True
    return bool(ttest_rel(scores, leader, alternative="less").pvalue < alpha)
