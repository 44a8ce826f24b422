"""Several search drivers and one study: a live driver is never disturbed, a dead one is taken over.

Optuna heartbeats (recorded by the driver for each running trial) say whether a trial's driver
is alive; a study lease says who drives the study while it has no trial running; the run
directory's lock proves that an earlier driver of the same run directory is gone.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from commands import LIVE, TINY, merauto, start_merauto
from filelock import FileLock
from optuna.trial import TrialState

import merauto.orchestrator.driver as driver_module
import merauto.results.storage as storage_module
from merauto.cli import main
from merauto.errors import MerautoError
from merauto.orchestrator.driver import DriverId, DriverPresence, StaleTrials
from merauto.orchestrator.study import finished_trials, recover_interrupted
from merauto.results.integrity import check_integrity
from merauto.results.storage import DRIVER_ATTR, INTERRUPTED_ATTR, PRESET_ATTR, RETRY_OF_ATTR, open_storage
from merauto.results.store import StoredTrial
from merauto.search_space.space import define_by_run


def _study(url: str, stale: StaleTrials | None = None) -> tuple[optuna.storages.RDBStorage, optuna.Study]:
    storage = open_storage(url, on_stale=stale)
    return storage, optuna.create_study(storage=storage, study_name="s", direction="maximize", load_if_exists=True)


def _running_trial(study: optuna.Study, presence: DriverPresence) -> int:
    trial = study.ask()
    define_by_run(trial)
    presence.track("s", trial.number)
    return trial.number


def test_a_second_driver_is_refused_while_the_first_is_alive_and_nothing_of_its_changes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    storage, study = _study(url)
    with DriverPresence(storage, DriverId.this_process(tmp_path / "a")) as first:
        first.claim(study, StaleTrials())
        other_storage, other_study = _study(url)
        second = DriverPresence(other_storage, DriverId.this_process(tmp_path / "b"))
        with pytest.raises(MerautoError, match="another merauto driver") as refused:  # before it has a trial: the lease
            second.claim(other_study, StaleTrials())
        assert str(tmp_path / "a") in refused.value.problem and "another --study" in refused.value.fix

        number = _running_trial(study, first)
        first.close()  # a clean exit frees the lease; the trial below still beats in this test's eyes
        with pytest.raises(MerautoError, match=f"trial {number} .* is running right now"):
            second.claim(other_study, StaleTrials())
        second.close()
    (trial,) = study.get_trials()
    assert trial.state == TrialState.RUNNING and trial.user_attrs[DRIVER_ATTR]["run_dir"] == str((tmp_path / "a").resolve())


def test_a_dead_drivers_trials_are_failed_once_their_heartbeat_is_stale_and_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "GRACE_S", 1)
    monkeypatch.setattr(driver_module, "GRACE_S", 1)
    url = f"sqlite:///{tmp_path}/shared.db"
    storage, study = _study(url)
    dead = DriverPresence(storage, DriverId.this_process(tmp_path / "a"))
    dead.claim(study, StaleTrials())
    number = _running_trial(study, dead)
    dead._stop.set()  # the driver stops beating (as a killed one does) without releasing its lease
    time.sleep(2.5)

    stale = StaleTrials()
    other_storage, other_study = _study(url, stale)
    with DriverPresence(other_storage, DriverId.this_process(tmp_path / "b")) as taker:
        gone, orphans = taker.claim(other_study, stale)
    assert gone == [number] and orphans == []
    trials = other_study.get_trials()
    assert trials[number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.user_attrs[RETRY_OF_ATTR] == number and retry.system_attrs["fixed_params"] == trials[number].params
    assert finished_trials(other_study) == 0, "a trial that runs again does not use up the budget"


def test_the_same_run_directory_takes_over_its_dead_drivers_trials_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    storage, study = _study(url)
    killed = DriverPresence(storage, DriverId.this_process(tmp_path / "run"))
    killed.claim(study, StaleTrials())
    number = _running_trial(study, killed)
    killed._stop.set()  # heartbeat still fresh: only the run directory's lock says this driver is gone

    with DriverPresence(storage, DriverId.this_process(tmp_path / "run")) as rerun:
        gone, orphans = rerun.claim(study, StaleTrials())
        assert gone == [] and [t.number for t in orphans] == [number]
        assert recover_interrupted(study, storage, orphans) == [number]
    trial = study.get_trials()[number]
    assert trial.state == TrialState.FAIL and trial.user_attrs[INTERRUPTED_ATTR]


@pytest.mark.slow
def test_a_second_search_on_a_live_study_is_refused_and_the_first_finishes(tmp_path: Path, cache_dir: Path) -> None:
    """The defect of issue 14: the second search used to fail the first one's live trial, and the
    first then crashed with UpdateFinishedTrialError when that trial finished."""
    cache, url = cache_dir, f"sqlite:///{tmp_path}/shared.db"
    common = ["search", *LIVE, "--budget", "3", "--storage", url, "--study", "shared", "--seed-presets"]
    first = start_merauto(*common, "--run-dir", str(tmp_path / "a"), cache=cache)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and first.poll() is None:
            try:
                study = optuna.load_study(study_name="shared", storage=url)
            except Exception:  # noqa: BLE001 - not created yet, or its tables being created
                study = None
            if study is not None and study.get_trials(states=(TrialState.RUNNING,)):
                break
            time.sleep(0.5)
        second = merauto(*common, "--run-dir", str(tmp_path / "b"), cache=cache, check=False)
        assert first.poll() is None, "the first search was still running when the second was refused"
        assert second.returncode == 2, second.stderr
        err = " ".join(second.stderr.split())
        assert "another merauto" in err and str(tmp_path / "a") in err and "fix:" in err
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            first.kill()
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 3


def test_a_second_search_in_the_same_run_directory_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with FileLock(str(run_dir / ".lock")):  # what a running search holds
        code = main(["search", *TINY, "--budget", "1", "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "cache")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and f"another merauto search is running in {run_dir}" in err and "fix:" in err
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"], "nothing of a study was written"


def test_the_integrity_check_names_trials_counted_twice_lost_or_stray(tmp_path: Path) -> None:
    storage, study = _study(f"sqlite:///{tmp_path}/study.db")
    for value in (0.5, 0.6, 0.7):
        trial = study.ask()
        define_by_run(trial)
        study.tell(trial, value)
    study.enqueue_trial({}, user_attrs={RETRY_OF_ATTR: 0})  # a re-run of trial 0 that also completes: 0 no longer counts
    retry = study.ask()
    define_by_run(retry)
    study.tell(retry, 0.4)
    config = define_by_run(optuna.trial.FixedTrial(study.trials[1].params))
    outcome_free = [StoredTrial(n, "complete", None, config, 0.5, None, None, None, None) for n in (0, 1, 3)]
    integrity = check_integrity(study, outcome_free)
    assert integrity.counted == 3 and integrity.lost == [2] and integrity.stray == [0] and not integrity.ok
    assert "lost [2]" in integrity.describe() and "stray [0]" in integrity.describe()
    for _ in range(2):  # one preset run to completion twice: counted twice
        study.enqueue_trial({}, user_attrs={PRESET_ATTR: "ststnet"})
        preset = study.ask()
        define_by_run(preset)
        study.tell(preset, 0.5)
    stored = [StoredTrial(n, "complete", None, config, 0.5, None, None, None, None) for n in (1, 2, 3, 4, 5)]
    twice = check_integrity(study, stored)
    assert twice.counted_twice == [5] and twice.lost == [] and twice.stray == [] and not twice.ok
