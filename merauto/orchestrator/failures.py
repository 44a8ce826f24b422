"""A search stopped by its disk, said plainly: a full disk or a damaged SQLite file, wherever Optuna,
SQLAlchemy, Ray Tune or pyarrow raised it, instead of the traceback of whichever library wrote last."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy.exc

from merauto.errors import MerautoError
from merauto.results.sqlite_files import damaged_or_full, sqlite_path

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # full disk, quota, file size limit
NO_SPACE_WORDS = "no space left on device"  # pyarrow (Ray Tune's files) raises a bare OSError saying so


def disk_failure(error: BaseException, run_dir: Path, storage_url: str) -> MerautoError | None:
    """The error to report when ``error``, or one it was raised from or while handling, is a full disk or a
    damaged study file; ``None`` when it is neither (or merauto already said what it is)."""
    for exc in _chain(error):
        if isinstance(exc, MerautoError):
            return None
        if isinstance(exc, (sqlalchemy.exc.DBAPIError, sqlite3.Error)):  # the results store raises its own: this is the study's
            found = damaged_or_full(sqlite_path(storage_url) or Path(storage_url), "the study", exc)
            if found is not None:
                return found
        if isinstance(exc, OSError) and (exc.errno in NO_SPACE or NO_SPACE_WORDS in str(exc).lower()):
            where = exc.filename or run_dir
            return MerautoError(
                f"no space left on the disk of {where} ({exc.strerror or str(exc).strip().splitlines()[0]})",
                f"free space on that disk (df -h {Path(where).parent}) or move the run folder to a disk with room, then run the "
                "same command again: trials that did not finish are run again",
            )
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it was raised from or while handling, and so on."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__
