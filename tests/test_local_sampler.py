"""``--sampler local``: a share of the trials mutate the incumbent, chosen on the objective Optuna holds."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from merauto.orchestrator.local_sampler import PROPOSAL_ATTR, LocalSearchSampler, incumbent, mutate
from merauto.orchestrator.study import make_sampler
from merauto.search_space.space import define_by_run

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_mutations_stay_in_the_distribution_and_move() -> None:
    rng = np.random.default_rng(0)
    assert {mutate("a", CategoricalDistribution(["a", "b", "c"]), rng) for _ in range(50)} == {"b", "c"}
    floats = [mutate(1e-3, FloatDistribution(1e-5, 1e-1, log=True), rng) for _ in range(200)]
    assert all(1e-5 <= f <= 1e-1 for f in floats) and np.median(np.abs(np.log10(floats) + 3)) < 1.0, "a step, not a jump"
    ints = [mutate(40, IntDistribution(20, 80, step=10), rng) for _ in range(100)]
    assert all(i in range(20, 81, 10) and i != 40 for i in ints)


def _objective(trial: optuna.Trial) -> float:
    """A toy objective of merauto's own space, plus an attribute a person would read (never the sampler)."""
    config = define_by_run(trial, max_epochs=20)
    value = float(config.training.lr * 100 + (config.topology.name == "branches"))
    trial.set_user_attr("outer_uf1", -value)  # a test score that ranks trials the other way round
    return value


def test_the_incumbent_is_the_best_objective_and_half_the_trials_mutate_it() -> None:
    study = optuna.create_study(direction="maximize", sampler=make_sampler(0, startup_trials=4, sampler="local"))
    study.optimize(_objective, n_trials=24)
    assert isinstance(study.sampler, LocalSearchSampler)
    mutations = [t for t in study.trials if PROPOSAL_ATTR in t.user_attrs]
    assert 6 <= len(mutations) <= 18, "about half of the trials after the first complete one"
    for t in mutations:
        parent_number = int(t.user_attrs[PROPOSAL_ATTR].rsplit(" ", 1)[1])
        earlier = [p for p in study.trials[: t.number] if p.state == optuna.trial.TrialState.COMPLETE]
        assert parent_number == max(earlier, key=lambda p: (p.value, -p.number)).number, "the best objective so far, not outer_uf1"
        parent = study.trials[parent_number]
        shared = [name for name in t.params if name in parent.params]
        kept = sum(t.params[name] == parent.params[name] for name in shared)
        assert kept >= 0.5 * len(shared), "a mutation keeps most of its parent's parameters"
    assert incumbent(study).number == study.best_trial.number


@pytest.mark.parametrize("sampler", ["tpe", "local"])
def test_samplers_are_reproducible(sampler: str) -> None:
    def run() -> list[dict]:
        study = optuna.create_study(direction="maximize", sampler=make_sampler(5, startup_trials=3, sampler=sampler))
        study.optimize(_objective, n_trials=10)
        return [t.params for t in study.trials]

    assert run() == run()
