"""merauto's sampler reads the study once per trial, not once per parameter group, and samples
exactly what Optuna's TPE with the same options and seed samples (benchmarks/bench_sampling.py
measures the time).

Both searches run on an in-memory SQLite database opened as a search opens a storage, with two trials in flight
besides the one being sampled, so constant liar sees RUNNING trials (first random ones, then
ones TPE sampled, whose relative parameters it reads from their system attributes)."""

from __future__ import annotations

import random
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import optuna
import pytest

from merauto.orchestrator.study import GroupedTPESampler, make_sampler
from merauto.results.storage import open_storage
from merauto.search_space.space import SpaceContext, define_by_run

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # Study.ask outside Study.optimize

CONTEXT = SpaceContext(landmarks=True, n_sources=3, au_labels=True)  # the composite's
RANDOM = 12  # random trials first: 10 complete (TPE's start-up trials: every later trial is TPE's) and 2 running
SAMPLED = 10  # then trials sampled by the sampler under test
IN_FLIGHT = 2


@dataclass
class Search:
    params: list[dict[str, Any]] = field(default_factory=list)  # of each trial the sampler sampled
    reads: list[int] = field(default_factory=list)  # database reads of the trials during its sample_relative
    groups: list[int] = field(default_factory=list)  # parameter groups TPE sampled in it
    running: list[int] = field(default_factory=list)  # RUNNING trials the sampler saw


def _search(sampler: optuna.samplers.TPESampler) -> Search:
    storage = open_storage("sqlite:///:memory:")  # a file's commits (one per parameter) wait on the disk
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    rng = random.Random(0)
    in_flight: deque[int] = deque()

    def step() -> optuna.Trial:
        trial = study.ask()
        define_by_run(trial, CONTEXT)
        in_flight.append(trial.number)
        if len(in_flight) > IN_FLIGHT:
            study.tell(in_flight.popleft(), rng.random())
        return trial

    for _ in range(RANDOM):
        step()
    study = optuna.load_study(study_name="s", storage=storage, sampler=sampler)

    search = Search()
    inside = False
    read_database = storage._get_trials  # every read of Optuna's cached storage queries the database here
    sample_relative = sampler.sample_relative

    def counted_read(*args: Any, **kwargs: Any) -> list[optuna.trial.FrozenTrial]:
        if inside:
            search.reads[-1] += 1
        return read_database(*args, **kwargs)

    def counted_sample_relative(study: optuna.Study, trial: optuna.trial.FrozenTrial, space: dict[str, Any]) -> dict[str, Any]:
        nonlocal inside
        search.reads.append(0)
        search.running.append(len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))) - 1)
        inside = True
        try:
            return sample_relative(study, trial, space)
        finally:
            inside = False
            groups = sampler._search_space_group.search_spaces  # type: ignore[union-attr]
            search.groups.append(sum(any(n in space and not d.single() for n, d in group.items()) for group in groups))

    storage._get_trials = counted_read  # type: ignore[method-assign]
    sampler.sample_relative = counted_sample_relative  # type: ignore[method-assign]
    for _ in range(SAMPLED):
        search.params.append(step().params)
    storage.engine.dispose()
    return search


@pytest.fixture(scope="module")
def searches() -> dict[str, Search]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plain = optuna.samplers.TPESampler(seed=3, multivariate=True, group=True, constant_liar=True)
    merauto = make_sampler(3)
    assert isinstance(merauto, GroupedTPESampler)
    return {"optuna": _search(plain), "merauto": _search(merauto)}


def test_grouped_sampler_samples_what_tpe_samples(searches: dict[str, Search]) -> None:
    optuna_search, merauto_search = searches["optuna"], searches["merauto"]
    assert len(merauto_search.params) == SAMPLED
    assert all(n == IN_FLIGHT for n in merauto_search.running)  # constant liar had running trials to lie about
    assert merauto_search.params == optuna_search.params


def test_grouped_sampler_reads_the_study_once_per_trial(searches: dict[str, Search]) -> None:
    optuna_search, merauto_search = searches["optuna"], searches["merauto"]
    assert len(merauto_search.reads) == SAMPLED
    assert merauto_search.groups == optuna_search.groups
    assert min(merauto_search.groups) > 10  # merauto's conditional space: many groups, each sampled on its own
    assert optuna_search.reads == optuna_search.groups  # Optuna's TPE: one database read per group
    assert merauto_search.reads == [1] * SAMPLED
