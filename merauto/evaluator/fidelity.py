"""Multi-fidelity over outer folds: nested, stratified fold subsets ("rungs") fixed per study.

A trial is scored on rung 1's folds first, then on the folds rung 2 adds, and so on to all
folds. Each rung's score is the pooled inner-validation UF1 over its folds, so every trial
is compared on the same folds, and a scheduler (Ray Tune's ASHA) can stop hopeless trials
after a cheap rung. Only trials that reached the last rung (all folds) can be selected.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from merauto.errors import MerautoError
from merauto.evaluator.protocol import OuterFold

MIN_RUNG_FOLDS = 4  # a smaller first rung ranks trials by too few inner validations
DEFAULT_REDUCTION = 4  # 68 folds: rungs of 5, 17, 68 (benchmarks/asha_fold_savings.py: ~4.7x fewer fold-trainings; 3 gives ~3.2x)


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


def parse_pruning(text: str) -> int | None:
    """``none`` -> None; ``asha`` or ``asha:ETA`` -> the reduction factor (default ``DEFAULT_REDUCTION``)."""
    kind, _, value = text.partition(":")
    if kind == "none" and not value:
        return None
    if kind == "asha" and (not value or (value.isdigit() and int(value) >= 2)):
        return int(value or DEFAULT_REDUCTION)
    fix = f"use none, asha (reduction factor {DEFAULT_REDUCTION}) or asha:ETA with ETA>=2"
    raise MerautoError(f"--pruning {text!r} is not a pruning scheme", fix)
