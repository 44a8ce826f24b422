"""The Optuna storage of a run, and the names of what merauto writes into its studies.

Every command that reads a study (report, dashboard, export) and the orchestrator that
writes it open the storage here and read or write the same attribute names.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import optuna
import sqlalchemy.exc
from optuna.trial import FrozenTrial, TrialState

from merauto.errors import MerautoError
from merauto.results.sqlite_files import damaged_or_full, sqlite_path

PROTOCOL_ATTR = "merauto_protocol"  # study: the protocol every trial shares (RunInfo.protocol)
INTERRUPTED_ATTR = "merauto_interrupted"  # trial: failed by an interruption; re-run, not counted
PRESET_ATTR = "preset"  # trial: the literature preset it runs
RUNGS_ATTR = "merauto_rungs"  # study: the fold subsets of multi-fidelity, fixed per study
RETRY_OF_ATTR = "merauto_retry_of"  # trial: the number of the interrupted trial it runs again (that one no longer counts)
NOT_TRAINED_ATTR = "merauto_not_trained"  # trial: a proposal refused before training (its predicted cost); not counted
DRIVER_ATTR = "merauto_driver"  # trial: the search driver (run directory, host, pid) that asked it
LEASE_ATTR = "merauto_lease"  # study: the driver searching it now and when it last beat

HEARTBEAT_S = 5  # a driver records an Optuna heartbeat for each of its running trials this often
GRACE_S = 30  # a running trial whose heartbeat is older belongs to a driver that is gone


SCHEMA_TRIES = 5  # drivers creating Optuna's tables in a new database at once: the losers find them made


def open_storage(url: str, on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url``, connecting now so a bad URL fails before any work.

    Heartbeats are on (:data:`HEARTBEAT_S`, :data:`GRACE_S`): ``optuna.storages.fail_stale_trials``
    fails the running trials of a driver that is gone and calls ``on_stale`` for each. Drivers
    that open one new database at once race to create its tables; those that lose try again.
    """
    tries = 0
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # Optuna still marks heartbeats experimental
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, heartbeat_stale_trial_callback=on_stale
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            tries += 1
            if tries == SCHEMA_TRIES:
                raise _unopenable(url, exc) from None
            time.sleep(0.1 * tries)
        except Exception as exc:  # sqlalchemy/driver errors vary by backend
            raise _unopenable(url, exc) from None


def _unopenable(url: str, exc: BaseException) -> MerautoError:
    path = sqlite_path(url)
    trouble = None if path is None else damaged_or_full(path, "the study", exc)
    if trouble is not None:
        return trouble
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return MerautoError(
        f"cannot open --storage {url!r}: {reason}",
        "check the URL (e.g. sqlite:///path/study.db, postgresql://user:pass@host/db) and that the database "
        "is reachable, or omit --storage to use an SQLite file in the run directory",
    )


def counted_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count against the budget: complete, pruned and failed ones, except those
    interrupted (their driver stopped or was killed) and run again, and proposals refused before
    training for their predicted cost (:mod:`merauto.orchestrator.proposals`)."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials}
    return [
        t
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        and not t.user_attrs.get(INTERRUPTED_ATTR)
        and not t.user_attrs.get(NOT_TRAINED_ATTR)
        and t.number not in retried
    ]
