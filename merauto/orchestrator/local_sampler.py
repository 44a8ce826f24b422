"""Proposals around the best pipeline so far, interleaved with TPE's (``--sampler local``).

Known pipelines (the literature presets) are strong on small MER datasets and the conditional
space is large: a global model such as TPE spends most of a small budget far from them. Here,
once the study holds a complete trial, a share of the trials is a *mutation* of the incumbent
(the complete, feasible trial with the best objective value, the inner-validation UF1 and
nothing else Optuna holds): each of its parameters is kept, or with probability ``rate``
resampled (a categorical choice another value; a number perturbed around its value on the
distribution's scale); parameters the incumbent never had (a branch it did not take) come from
TPE. The other trials are TPE's own. Which trials mutate is fixed by the seed and the trial
number, and each mutation names its parent in the trial's user attribute ``proposal`` (visible
in optuna-dashboard).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

PROPOSAL_ATTR = "proposal"  # trial user attribute: "mutation of trial N" (absent: the base sampler's proposal)


class LocalSearchSampler(BaseSampler):
    """``base`` (TPE) for most trials; for a ``share`` of them, a mutation of the incumbent (see the module docstring)."""

    def __init__(self, base: BaseSampler, seed: int = 0, share: float = 0.5, rate: float = 0.2) -> None:
        self.base, self.seed, self.share, self.rate = base, seed, share, rate
        self._parents: dict[int, FrozenTrial | None] = {}  # trial number -> the incumbent it mutates (None: base)

    def _rng(self, trial: FrozenTrial, salt: str = "") -> np.random.Generator:
        return np.random.default_rng([self.seed, trial.number, *map(ord, salt)])

    def _parent(self, study: Study, trial: FrozenTrial) -> FrozenTrial | None:
        """The incumbent ``trial`` mutates, decided once per trial (``None``: the base sampler proposes it)."""
        if trial.number not in self._parents:
            parent = None
            if len(study.directions) == 1 and self._rng(trial).random() < self.share:
                parent = incumbent(study)
            self._parents[trial.number] = parent
            if parent is not None:
                study._storage.set_trial_user_attr(trial._trial_id, PROPOSAL_ATTR, f"mutation of trial {parent.number}")
        return self._parents[trial.number]

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._parent(study, trial) is not None:
            return {}
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self._parent(study, trial) is not None:
            return {}
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        parent = self._parent(study, trial)
        if parent is None or param_name not in parent.params or parent.distributions[param_name] != param_distribution:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        rng = self._rng(trial, param_name)
        value = parent.params[param_name]
        if rng.random() >= self.rate:
            return value
        return mutate(value, param_distribution, rng)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._parents.pop(trial.number, None)
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def incumbent(study: Study) -> FrozenTrial | None:
    """The complete, feasible trial with the best first objective (ties: the earlier one)."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and all(v <= 0 for v in t.constraints.values())
    ]
    if not complete:
        return None
    sign = 1.0 if study.directions[0] == StudyDirection.MAXIMIZE else -1.0
    return max(complete, key=lambda t: (sign * t.values[0], -t.number))


def mutate(value: Any, distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """Another value of ``distribution`` near ``value``: a different choice, or a step of about a
    tenth of the range (of its logarithm for a log scale), kept in range and on the step grid."""
    if isinstance(distribution, CategoricalDistribution):
        others = [c for c in distribution.choices if c != value]
        return others[rng.integers(len(others))] if others else value
    if isinstance(distribution, FloatDistribution | IntDistribution):
        low, high = float(distribution.low), float(distribution.high)
        if distribution.log:
            moved = math.exp(math.log(value) + rng.normal(0.0, 0.1 * (math.log(high) - math.log(low))))
        else:
            moved = value + rng.normal(0.0, 0.1 * (high - low))
        moved = min(max(moved, low), high)
        step = distribution.step
        if step is not None:
            moved = low + round((moved - low) / step) * step
            moved = min(moved, high)
        if isinstance(distribution, IntDistribution):
            moved = int(round(moved))
            if moved == value and high > low:  # an integer step rounds back easily: move one notch instead
                notch = int(step or 1)
                moved = int(value + notch) if value + notch <= high else int(value - notch)
        return moved
    return value
