"""SQLite files of a run checked before any work: whether they can be written, and where an URL points."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from merauto.errors import MerautoError

WRITABLE_FIX = (
    "make the file and its folder writable (or free disk space), then run the same command again: "
    "trials whose results were not stored are re-run"
)
DAMAGED = ("file is not a database", "database disk image is malformed")  # SQLite's words for a truncated or overwritten file
FULL = "database or disk is full"  # SQLITE_FULL: no space left on the disk (ENOSPC)
IO_ERROR = "disk i/o error"  # a write cut short: a full disk, a file size limit (EFBIG) or a failing disk


def sqlite_failure(path: Path, what: str, error: BaseException) -> MerautoError:
    """What a failed read or write of the SQLite file ``path`` (``what``: the study, the results
    store) means and how to fix it: a damaged file, a full disk, or a file or folder not writable."""
    return damaged_or_full(path, what, error) or MerautoError(f"cannot write {what} {path}: {_reason(error)}", WRITABLE_FIX)


def damaged_or_full(path: Path, what: str, error: BaseException) -> MerautoError | None:
    """The error to report when ``error`` says the SQLite file ``path`` is damaged or its disk is full, else ``None``."""
    reason = _reason(error)
    lowered = reason.lower()
    if any(words in lowered for words in DAMAGED):
        return MerautoError(
            f"{what} {path} is damaged, truncated or not an SQLite file ({reason})",
            f"restore {Path(path).name} from a copy of the run folder, or start again in a new run folder (another --run-dir): "
            "merauto cannot resume from a damaged file",
        )
    if FULL in lowered or IO_ERROR in lowered:
        why = (
            "no space left on its disk"
            if FULL in lowered
            else "disk I/O error (its disk is full, a file size limit was reached, or the disk fails)"
        )
        return MerautoError(
            f"cannot write {what} {path}: {why}",
            f"free space on that disk (df -h {Path(path).parent}) or move the run folder to a disk with room, then run the same "
            "command again: SQLite rolled the unfinished change back, and trials whose results were not stored are re-run",
        )
    return None


def _reason(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def check_sqlite_writable(path: Path, what: str, storage_option: bool = False) -> None:
    """Refuse an SQLite file (``what``: the study, the results store) that is damaged or cannot be
    written: its pages are checked (``PRAGMA quick_check``), and a write to its header is made and
    rolled back, so a truncated file, a read-only file or folder fails now, before any work.
    A file not yet there is created later; with ``storage_option`` (named by ``--storage``) its folder must exist."""
    path = Path(path)
    if not path.exists():
        if storage_option and not path.parent.is_dir():
            raise MerautoError(
                f"cannot open --storage sqlite:///{path}: the folder {path.parent} does not exist",
                "create the folder or correct the path (an absolute path takes four slashes: sqlite:////home/me/study.db), "
                "or omit --storage to use an SQLite file in the run directory",
            )
        return
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"database disk image is malformed: {'; '.join(problems)}")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f"PRAGMA user_version = {version}")
        connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise sqlite_failure(path, what, exc) from None
    finally:
        connection.close()


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL, ``None`` for any other database."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") and url != "sqlite:///" else None
