"""The Optuna storage of a run, and the names of what merauto writes into its studies.

Every command that reads a study (report, dashboard, export) and the orchestrator that
writes it open the storage here and read or write the same attribute names.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

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


WRITABLE_FIX = (
    "make the file and its folder writable (or free disk space), then run the same command again: "
    "trials whose results were not stored are re-run"
)


def check_sqlite_writable(path: Path, what: str) -> None:
    """Refuse an SQLite file (``what``: the study, the results store) that cannot be written: a write
    to its header is made and rolled back, so a read-only file or folder fails now, before any work."""
    if not Path(path).exists():
        return
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f"PRAGMA user_version = {version}")
        connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise MerautoError(f"cannot write {what} {path}: {exc}", WRITABLE_FIX) from None
    finally:
        connection.close()


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL, ``None`` for any other database."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") and url != "sqlite:///" else None
