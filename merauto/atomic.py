"""Files written whole or not at all: a temporary file in the same folder, renamed into place.

Run folders are shared (a group reads a colleague's report, an archive keeps them), so what is
written here gets the permissions the umask gives a new file (0644 under umask 022, 0664 under
002), not the owner-only 0600 of ``tempfile``'s files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from merauto.errors import MerautoError


def umask() -> int:
    """This process's umask (read from /proc where it can be, so no other thread sees it change)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_mode(mode: int = 0o666) -> int:
    """``mode`` as the umask lets a newly created file or folder have it (0o777 for folders)."""
    return mode & ~umask()


def write_text_atomic(path: Path, text: str, what: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one; on a full
    disk or an unwritable folder nothing is left behind and the error names ``what`` and the fix.
    The file gets the permissions the umask gives a new file."""
    path = Path(path)
    handle = None
    try:
        handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", suffix=path.suffix, delete=False, encoding="utf-8")
        with handle:
            os.fchmod(handle.fileno(), shared_mode())
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except OSError as exc:
        if handle is not None:
            Path(handle.name).unlink(missing_ok=True)
        raise MerautoError(
            f"cannot write {what} {path}: {exc.strerror or exc}",
            "free disk space or make the folder writable, then run the same command again (nothing was half-written)",
        ) from None
    return path
