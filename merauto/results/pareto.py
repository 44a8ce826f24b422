"""The Pareto front of a multi-objective study: eligible (all folds, feasible) trials that no other
eligible trial beats on every objective."""

from __future__ import annotations

from merauto.pipeline.objectives import OBJECTIVES
from merauto.results.selection import eligible
from merauto.results.store import StoredTrial


def costs(trial: StoredTrial, objectives: tuple[str, ...]) -> tuple[float, ...] | None:
    """The trial's objective values, each oriented so that smaller is better; ``None`` if one is unmeasured."""
    values = {"uf1": trial.objective, "params": trial.n_params, "latency": trial.latency_ms}
    if any(values[name] is None for name in objectives):
        return None
    return tuple(-values[n] if OBJECTIVES[n].direction == "maximize" else float(values[n]) for n in objectives)


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether ``a`` is no worse than ``b`` on every objective and better on one (smaller is better)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def pareto_front(trials: list[StoredTrial], objectives: tuple[str, ...]) -> list[StoredTrial]:
    """The non-dominated eligible trials (every fold, within the limits), by UF1, best first."""
    return non_dominated(eligible(trials), objectives)


def non_dominated(pool: list[StoredTrial], objectives: tuple[str, ...]) -> list[StoredTrial]:
    """The trials of ``pool`` no other beats on every objective, by UF1 (best first); a trial with
    an unmeasured objective is left out.

    >>> def trial(n, uf1, params):
    ...     return StoredTrial(n, "complete", None, None, uf1, params, 1.0, None, None)
    >>> [t.number for t in non_dominated([trial(0, 0.7, 5000), trial(1, 0.6, 900), trial(2, 0.5, 4000)], ("uf1", "params"))]
    [0, 1]
    """
    measured = {t.number: c for t in pool if (c := costs(t, objectives)) is not None}
    front = [t for t in pool if t.number in measured and not any(dominates(o, measured[t.number]) for o in measured.values())]
    return sorted(front, key=lambda t: (-t.objective, t.number))
