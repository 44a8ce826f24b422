"""Searches on a real PostgreSQL server (started by ``postgres_server``): search, resume, report and dashboard
read and write ``postgresql://`` storage, and drivers writing to one database at once lose no trial."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import optuna
import psycopg
import pytest
from commands import LIVE, dashboard, merauto, poll_json, start_merauto
from postgres_server import PostgresServer

from merauto.errors import MerautoError
from merauto.results.storage import INTERRUPTED_ATTR, open_storage
from merauto.results.store import ResultsStore

STUDY = "synthetic-tiny"


def _trials(url: str, study: str = STUDY) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as Optuna reads them back from the server."""
    return optuna.load_study(study_name=study, storage=url).trials


def _count_complete(url: str, study: str = STUDY) -> int:
    """Complete trials of ``study`` by plain SQL: polling must not create Optuna's tables while the driver does."""
    with psycopg.connect(url) as connection:
        try:
            query = "select count(*) from trials join studies using (study_id) where study_name = %s and state = 'COMPLETE'"
            return connection.execute(query, (study,)).fetchone()[0]
        except psycopg.errors.UndefinedTable:  # the driver has not created them yet
            return 0


def _complete(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]


def test_drivers_opening_one_new_database_at_once_all_start(postgres_server: PostgresServer) -> None:
    for _ in range(2):
        assert _open_at_once(postgres_server.create_database(), drivers=4) == []


def _open_at_once(url: str, drivers: int) -> list[str]:
    """Open ``url`` from ``drivers`` threads released together; returns the refusals."""
    barrier, refused = threading.Barrier(drivers), []

    def driver() -> None:
        barrier.wait()
        try:
            open_storage(url)
        except MerautoError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=driver) for _ in range(drivers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return refused


@pytest.mark.slow
def test_search_resume_report_dashboard_on_postgresql(postgres_url: str, tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *LIVE, "--budget", "3", "--seed-presets", "--run-dir", str(run_dir), "--storage", postgres_url]
    process = start_merauto(*search, cache=cache)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and _count_complete(postgres_url) < 1:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert 1 <= _count_complete(postgres_url) < 3

    resumed = merauto(*search, cache=cache)
    assert "3/3 trials finished" in resumed.stderr
    trials = _trials(postgres_url)
    complete = _complete(trials)
    assert len(complete) == 3 and len({t.number for t in complete}) == 3
    assert all(t.user_attrs.get(INTERRUPTED_ATTR) for t in trials if t not in complete), "only interrupted trials are not complete"
    assert "ststnet" in {t.user_attrs.get("preset") for t in complete} and all("outer_uf1" in t.user_attrs for t in complete)
    assert [t.number for t in ResultsStore(run_dir).trials(STUDY)] == [t.number for t in complete]
    assert not (run_dir / "study.db").exists(), "the study lives on the server, not in the run dir"

    report = merauto("report", str(run_dir), cache=cache)
    assert "leaderboard" in report.stdout and "preset ststnet" in report.stdout

    with dashboard(run_dir) as url:
        (summary,) = poll_json(f"{url}/api/studies")["study_summaries"]
        assert summary["study_name"] == STUDY
        study = poll_json(f"{url}/api/studies/{summary['study_id']}")
        assert sum(t["state"] == "Complete" for t in study["trials"]) == 3


@pytest.mark.slow
def test_two_searches_writing_to_one_database_at_once_lose_no_trial(postgres_url: str, tmp_path: Path, cache_dir: Path) -> None:
    cache = cache_dir
    studies = ("driver-a", "driver-b")
    processes = [
        start_merauto(
            *["search", "--synthetic-size", "tiny", "--max-epochs", "5", "--budget", "2", "--max-concurrent", "1"],
            *["--study", study, "--run-dir", str(tmp_path / study), "--storage", postgres_url],
            cache=cache,
        )
        for study in studies
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0 and "2/2 trials finished" in err, err

    assert sorted(optuna.get_all_study_names(postgres_url)) == list(studies)
    for study in studies:
        trials = _trials(postgres_url, study)
        assert [t.number for t in trials] == [0, 1]
        assert all(t.state == optuna.trial.TrialState.COMPLETE or t.user_attrs.get("error") for t in trials), trials
        assert [t.number for t in ResultsStore(tmp_path / study).trials(study)] == [0, 1]
