"""Files written whole or not at all: a temporary file in the same folder, renamed into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from merauto.errors import MerautoError


def write_text_atomic(path: Path, text: str, what: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one; on a full
    disk or an unwritable folder nothing is left behind and the error names ``what`` and the fix."""
    path = Path(path)
    handle = None
    try:
        handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", suffix=path.suffix, delete=False, encoding="utf-8")
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except OSError as exc:
        if handle is not None:
            Path(handle.name).unlink(missing_ok=True)
        raise MerautoError(
            f"cannot write {what} {path}: {exc.strerror or exc}",
            "free disk space or make the folder writable, then run the command again (nothing was half-written)",
        ) from None
    return path
