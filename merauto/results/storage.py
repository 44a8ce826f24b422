"""The Optuna storage of a run, and the names of what merauto writes into its studies.

Every command that reads a study (report, dashboard, export) and the orchestrator that
writes it open the storage here and read or write the same attribute names.
"""

from __future__ import annotations

import optuna

from merauto.errors import MerautoError

PROTOCOL_ATTR = "merauto_protocol"  # study: the protocol every trial shares (RunInfo.protocol)
INTERRUPTED_ATTR = "merauto_interrupted"  # trial: failed by an interruption; re-run, not counted
PRESET_ATTR = "preset"  # trial: the literature preset it runs
RUNGS_ATTR = "merauto_rungs"  # study: the fold subsets of multi-fidelity, fixed per study


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url``, connecting now so a bad URL fails before any work."""
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # sqlalchemy/driver errors vary by backend
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MerautoError(
            f"cannot open --storage {url!r}: {reason}",
            "check the URL (e.g. sqlite:///path/study.db, postgresql://user:pass@host/db) and that the database "
            "is reachable, or omit --storage to use an SQLite file in the run directory",
        ) from None
