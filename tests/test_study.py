"""Study bookkeeping: protocol check, presets once, interrupted trials re-run, the budget."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.study import enqueue_presets, finished_trials, open_study, recover_interrupted
from merauto.results.report.summary import protocol_line
from merauto.results.run_dir import RunInfo, default_storage_url, load_run
from merauto.results.storage import INTERRUPTED_ATTR, PRESET_ATTR, RUNGS_ATTR, open_storage
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import define_by_run


def _info(tmp_path: Path, inner: str = "holdout") -> RunInfo:
    evaluation = EvaluationSettings(inner=InnerSpec(inner, 0.25 if inner == "holdout" else 0.0))
    return RunInfo("s", default_storage_url(tmp_path), DatasetRequest(), evaluation)


def test_presets_are_enqueued_once(tmp_path: Path) -> None:
    info = _info(tmp_path)
    storage = open_storage(info.storage_url)
    study = open_study(storage, info, seed=0)
    assert enqueue_presets(study) == list(PRESETS)
    assert enqueue_presets(open_study(storage, info, seed=0)) == []
    trial = study.ask()
    assert trial.user_attrs[PRESET_ATTR] == "ststnet"
    assert define_by_run(trial).topology.name == "branches"


def test_presets_beyond_the_budget_are_queued_when_it_grows(tmp_path: Path) -> None:
    info = _info(tmp_path)
    study = open_study(open_storage(info.storage_url), info, seed=0)
    names = list(PRESETS)
    assert enqueue_presets(study, limit=2) == names[:2]
    assert enqueue_presets(study, limit=0) == []
    assert enqueue_presets(study, limit=len(names)) == names[2:]


def test_resuming_with_another_protocol_is_refused(tmp_path: Path) -> None:
    storage = open_storage(_info(tmp_path).storage_url)
    open_study(storage, _info(tmp_path), seed=0)
    with pytest.raises(MerautoError, match="--study"):
        open_study(storage, _info(tmp_path, inner="loso"), seed=0)


def test_interrupted_trials_fail_and_run_again_without_counting(tmp_path: Path) -> None:
    info = _info(tmp_path)
    storage = open_storage(info.storage_url)
    study = open_study(storage, info, seed=0)
    done = study.ask()
    define_by_run(done)
    study.tell(done, 0.5)
    crashed = study.ask()  # a trial whose process was killed: RUNNING forever
    define_by_run(crashed)
    failed = study.ask()
    define_by_run(failed)
    study.tell(failed, state=TrialState.FAIL)
    assert finished_trials(study) == 2

    assert recover_interrupted(study, storage) == [crashed.number]
    trials = study.get_trials()
    assert trials[crashed.number].state == TrialState.FAIL and trials[crashed.number].user_attrs[INTERRUPTED_ATTR]
    assert finished_trials(study) == 2, "an interrupted trial does not use up the budget"
    retry = study.ask()
    assert retry.number == 3 and define_by_run(retry) == define_by_run(optuna.trial.FixedTrial(trials[crashed.number].params))


def test_unreachable_storage_fails_with_the_url_and_a_fix(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/missing/dir/study.db", "nosuchdb://host/db"):
        with pytest.raises(MerautoError, match="--storage") as error:
            open_storage(url)
        assert "omit --storage" in str(error.value)


def test_run_info_round_trips_every_protocol_setting(tmp_path: Path) -> None:
    evaluation = EvaluationSettings(inner=InnerSpec("kfold", 3), refit=False, seed=4, outer=OuterSpec("lodo"), init_checkpoint="/m.pt")
    info = RunInfo("s", default_storage_url(tmp_path), DatasetRequest(), evaluation, pruning="asha:3", strict=True, max_epochs=20)
    info.save(tmp_path)
    loaded = load_run(tmp_path)
    assert loaded.protocol() == info.protocol() and loaded.strict and loaded.pruning == "asha:3" and loaded.max_epochs == 20
    assert loaded.evaluation.init_checkpoint == "/m.pt"


def test_reportprotocol_line_names_the_rungs_or_says_multi_fidelity_was_off(tmp_path: Path) -> None:
    info = RunInfo("s", default_storage_url(tmp_path), DatasetRequest(), EvaluationSettings(), pruning="asha:4")
    study = optuna.create_study()
    report = SimpleNamespace(info=info, study=study)
    assert "multi-fidelity off (too few folds)" in protocol_line(report)  # a study of one rung: nothing was pruned
    study.set_user_attr(RUNGS_ATTR, [[0, 1, 2, 3, 4], list(range(17)), list(range(68))])
    assert "multi-fidelity asha:4 over rungs of 5/17/68 folds" in protocol_line(report)


def test_startup_trials_set_how_long_tpe_samples_at_random() -> None:
    """With the study holding fewer trials than ``startup_trials`` TPE proposes its random sampler's
    value; at or past it, TPE models the trials it has."""
    from merauto.orchestrator.study import make_sampler

    float_x = optuna.distributions.FloatDistribution(0.0, 1.0)

    def first_proposal(startup: int) -> float:
        study = optuna.create_study(direction="maximize", sampler=make_sampler(3, startup_trials=startup))
        for x in (0.90, 0.91, 0.92, 0.10, 0.12):
            study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions={"x": float_x}, value=x))
        return study.ask({"x": float_x}).params["x"]

    random_first = optuna.samplers.RandomSampler(seed=3).sample_independent(None, None, "x", float_x)  # type: ignore[arg-type]
    assert first_proposal(100) == random_first
    assert first_proposal(5) != random_first


def test_warm_trials_inform_the_sampler_when_their_distributions_match() -> None:
    """A new study's first proposals come from a previous study's trials (best near x=0.9) when their
    distributions are the study's; warm trials with another range are left out, as if absent."""
    from merauto.orchestrator.study import make_sampler

    float_x = optuna.distributions.FloatDistribution(0.0, 1.0)
    wider_x = optuna.distributions.FloatDistribution(0.0, 2.0)

    def warm(distribution: optuna.distributions.FloatDistribution) -> list[optuna.trial.FrozenTrial]:
        xs = [0.88, 0.9, 0.92, 0.91, 0.89, 0.1, 0.2, 0.3, 0.4, 0.5, 0.15, 0.35]
        return [
            optuna.trial.create_trial(params={"x": x}, distributions={"x": distribution}, value=-abs(x - 0.9), user_attrs={"outer_uf1": x})
            for x in xs
        ]

    def proposals(warm_trials: list[optuna.trial.FrozenTrial] | None) -> list[float]:
        study = optuna.create_study(direction="maximize", sampler=make_sampler(3, startup_trials=10, warm_trials=warm_trials))
        xs = []
        for _ in range(5):
            trial = study.ask({"x": float_x})
            xs.append(trial.params["x"])
            study.tell(trial, -abs(trial.params["x"] - 0.9))
        return xs

    cold = proposals(None)
    assert proposals(warm(wider_x)) == cold  # another distribution: not read
    given = warm(float_x)
    learnt = proposals(given)
    assert all(x > 0.6 for x in learnt) and min(cold) < 0.3, (learnt, cold)  # near the warm trials' best, not spread out
    assert [t.number for t in given] == [t.number for t in warm(float_x)]  # the sampler renumbers copies, not the caller's trials
    copies = make_sampler(3, warm_trials=given)._warm
    assert all(t.user_attrs == {} for t in copies) and all(t.user_attrs for t in given)  # outer scores never reach the sampler
