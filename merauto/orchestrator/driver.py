"""The search driver's presence in its studies: who drives a study now, and that it is alive.

A driver (one ``merauto search`` process) holds a lease on each study it runs (a study user
attribute that optuna-dashboard shows) and records an Optuna heartbeat for each of its
running trials, from one background thread. Another driver reads both before it touches the
study: a live lease or a trial with a fresh heartbeat held by another run directory refuses
it; a lease or trials left by a driver that is gone (killed, its machine lost) are taken over.
The run directory's file lock proves a previous driver of the same run directory is gone, so
a rerun after ``kill -9`` need not wait for heartbeats to go stale.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from merauto.errors import MerautoError
from merauto.orchestrator.study import requeue
from merauto.results.storage import DRIVER_ATTR, GRACE_S, HEARTBEAT_S, LEASE_ATTR


@dataclass(frozen=True)
class DriverId:
    """One search process: the run directory it writes, its host and process id."""

    run_dir: str
    host: str
    pid: int

    @classmethod
    def this_process(cls, run_dir: Path) -> DriverId:
        return cls(str(Path(run_dir).resolve()), socket.gethostname(), os.getpid())

    @classmethod
    def from_attr(cls, value: Any) -> DriverId | None:
        """The driver a study or trial attribute names (``None`` when it names none)."""
        if not isinstance(value, dict) or not {"run_dir", "host", "pid"} <= value.keys():
            return None
        return cls(str(value["run_dir"]), str(value["host"]), int(value["pid"]))

    def to_attr(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"run directory {self.run_dir} on {self.host}, pid {self.pid}"


def another_driver_fix() -> str:
    """What to do when another driver searches the study."""
    return (
        "wait for that search to finish, or give this one another --study; a driver that was killed is recognised "
        f"{GRACE_S:g} s after its last heartbeat, so rerun after that"
    )


class StaleTrials:
    """The storage's ``heartbeat_stale_trial_callback``: each trial ``fail_stale_trials`` failed
    (its driver stopped beating) is queued to run again and remembered until taken."""

    def __init__(self) -> None:
        self._failed: dict[str, list[int]] = {}

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        requeue(study, trial)
        self._failed.setdefault(study.study_name, []).append(trial.number)

    def take(self, study_name: str) -> list[int]:
        return self._failed.pop(study_name, [])


class DriverPresence:
    """Holds this driver's leases and beats for its running trials until closed.

    ``claim`` refuses a study another live driver holds and takes the lease; ``track`` and
    ``untrack`` add and remove a running trial whose heartbeat the thread records every
    :data:`HEARTBEAT_S` seconds, together with every lease.
    """

    def __init__(self, storage: optuna.storages.RDBStorage, me: DriverId) -> None:
        self.storage: optuna.storages.RDBStorage | None = storage
        self.me = me
        self._studies: dict[str, int] = {}  # study name -> study id, leases held
        self._trials: dict[tuple[str, int], int] = {}  # (study, trial number) -> storage trial id, beating
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = threading.Thread(target=self._beat_until_stopped, name="merauto-heartbeat", daemon=True)
        self._thread.start()

    def claim(self, study: optuna.Study, stale: StaleTrials) -> tuple[list[int], list[FrozenTrial]]:
        """Take the lease on ``study`` unless another live driver searches it.

        Trials of drivers that are gone by Optuna's heartbeats are failed and queued again
        (``stale`` is the storage's callback). Returns their numbers, and the running trials this
        driver inherits: those of an earlier driver of its run directory, whose lock it holds,
        and those that name no driver (asked by a merauto without heartbeats)."""
        lease = study.user_attrs.get(LEASE_ATTR) or {}
        holder, beat = DriverId.from_attr(lease.get("driver")), float(lease.get("beat", 0.0))
        if holder is not None and holder.run_dir != self.me.run_dir and time.time() - beat < GRACE_S:
            raise MerautoError(
                f"study {study.study_name!r} is being searched right now by another merauto driver ({holder.describe()}; "
                f"its last heartbeat was {max(time.time() - beat, 0):.0f} s ago)",
                another_driver_fix(),
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        orphans = []
        for trial in study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)):
            driver = DriverId.from_attr(trial.user_attrs.get(DRIVER_ATTR))
            if driver is not None and driver.run_dir != self.me.run_dir:
                raise MerautoError(
                    f"trial {trial.number} of study {study.study_name!r} is running right now, driven by another merauto "
                    f"search ({driver.describe()}), and its heartbeat is fresh",
                    another_driver_fix(),
                )
            orphans.append(trial)
        study_id = self.storage.get_study_id_from_name(study.study_name)
        with self._lock:
            self._studies[study.study_name] = study_id
        self._renew(study_id)
        return stale.take(study.study_name), orphans

    def track(self, study_name: str, number: int) -> None:
        """Tag a trial this driver has just asked with its identity and beat for it, now and
        every interval until untracked."""
        if self.storage is None:
            return
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self._studies[study_name], number)
        self.storage.set_trial_user_attr(trial_id, DRIVER_ATTR, self.me.to_attr())
        self.storage.record_heartbeat(trial_id)
        with self._lock:
            self._trials[study_name, number] = trial_id

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its searcher (for Tuner.restore, which merauto does not use): the copy is inert.
        return {"me": self.me}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.storage, self.me, self._studies, self._trials = None, state["me"], {}, {}
        self._lock, self._stop, self._thread = threading.Lock(), threading.Event(), None
        self._stop.set()

    def untrack(self, study_name: str, number: int) -> None:
        with self._lock:
            self._trials.pop((study_name, number), None)

    def close(self) -> None:
        """Stop beating and release the leases (a clean exit frees the studies at once)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        for study_id in self._studies.values():
            self.storage.set_study_user_attr(study_id, LEASE_ATTR, {"driver": self.me.to_attr(), "beat": 0.0})

    def __enter__(self) -> DriverPresence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _renew(self, study_id: int) -> None:
        self.storage.set_study_user_attr(study_id, LEASE_ATTR, {"driver": self.me.to_attr(), "beat": time.time()})

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                trials, studies = list(self._trials.values()), list(self._studies.values())
            try:
                for trial_id in trials:
                    self.storage.record_heartbeat(trial_id)
                for study_id in studies:
                    self._renew(study_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried next interval; the search goes on
                continue
