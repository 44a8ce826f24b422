"""SQLite files of a run checked before any work: whether they can be written, and where an URL points."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from merauto.errors import MerautoError

WRITABLE_FIX = (
    "make the file and its folder writable (or free disk space), then run the same command again: "
    "trials whose results were not stored are re-run"
)


def check_sqlite_writable(path: Path, what: str, storage_option: bool = False) -> None:
    """Refuse an SQLite file (``what``: the study, the results store) that cannot be written: a write
    to its header is made and rolled back, so a read-only file or folder fails now, before any work.
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
