"""Tables of expressions in long videos as MEGC's STRS script reads them: a CSV with the columns
subject, video, onset, offset, emotion (frames inclusive; other columns ignored), one row per
coded or spotted expression. Every row is checked; a problem names the file, line and fix."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from merauto.data.long_videos.folders import Interval
from merauto.errors import MerautoError

COLUMNS = ("subject", "video", "onset", "offset", "emotion")
_FRAME = re.compile(r"[+-]?\d+(\.0*)?")  # a whole frame number; 45.0 as pandas writes one
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Expression:
    """One row of an expression table (MEGC's columns): subject, video, onset and offset (inclusive frames), emotion."""

    subject: str
    video: str
    onset: int
    offset: int
    emotion: str

    @property
    def interval(self) -> Interval:
        return Interval(self.onset, self.offset, label=self.emotion)


def _key(text: str) -> str:
    """A subject or video as the script compares it: pandas reads an all-number column as numbers, so 006 is 6."""
    text = text.strip()
    return str(int(text)) if _INTEGER.fullmatch(text) else text


def read_expressions(path: Path, option: str) -> list[Expression]:
    """The rows of the CSV at ``path`` (given as ``option``), each checked."""
    if not path.is_file():
        raise MerautoError(f"{option} {path}: no such file", f"pass a CSV with the columns {', '.join(COLUMNS)}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {(name or "").strip().lower(): name for name in reader.fieldnames or ()}
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise MerautoError(
                    f"{option} {path} lacks the column(s) {', '.join(missing)}",
                    f"give it a header row naming {', '.join(COLUMNS)} (MEGC's STRS-Metric columns)",
                )
            return [
                _expression({c: (row[header[c]] or "").strip() for c in COLUMNS}, f"{option} {path}, line {line}")
                for line, row in enumerate(reader, 2)
            ]
    except UnicodeDecodeError as error:
        raise MerautoError(f"{option} {path} is not UTF-8 text ({error.reason})", "save it as a UTF-8 CSV") from None


def _expression(row: dict[str, str], where: str) -> Expression:
    for column in ("subject", "video", "emotion"):
        if not row[column]:
            raise MerautoError(f"{where}: no {column}", f"fill in the row's {column}, or delete the row")
    for column in ("onset", "offset"):
        if not _FRAME.fullmatch(row[column]):
            raise MerautoError(
                f"{where}: {column} {row[column]!r} is not a whole frame number", f"write the {column} frame as an integer, e.g. 45"
            )
    onset, offset = (int(row[column].split(".")[0]) for column in ("onset", "offset"))
    if onset > offset:
        raise MerautoError(f"{where}: onset {onset} is after offset {offset}", "swap the two, or fix the row's frames")
    return Expression(_key(row["subject"]), _key(row["video"]), onset, offset, row["emotion"])
