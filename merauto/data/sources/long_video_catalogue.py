"""What a long-video set holds before any frame is decoded: its video folders (frame files listed
and numbered) and the coded intervals of its sheet rows, checked against those files.

Every problem becomes a :class:`~merauto.data.checks.findings.Finding` naming its file (and row) and
the fix; :meth:`LongVideoCatalogue.require` refuses a set with errors before its frames are read.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from merauto.data.cache import content_key
from merauto.data.checks.findings import Finding
from merauto.data.frames import FRAME_SUFFIXES
from merauto.data.long_videos.folders import Interval
from merauto.data.sheets import normalise_header
from merauto.errors import MerautoError

# Kinds of finding, as `merauto datasets check --dataset casme2-lv|samm-lv` groups them.
BAD_SHEET = "unusable coding sheet"
UNKNOWN_PARTICIPANT = "participant not in the mapping sheet"
UNKNOWN_VIDEO = "video name not in the mapping sheet"
BAD_FILENAME = "filename names no video"
MISSING_FOLDER = "missing video folder"
NO_FRAMES = "video without frames"
DUPLICATE_FRAME = "duplicate frame number"
BAD_TYPE = "unknown type"
NOT_A_NUMBER = "onset or offset not a frame number"
BAD_RANGE = "offset before onset"
OUTSIDE = "interval outside the video"
UNCODED_OFFSET = "offset not coded (apex used)"
UNREADABLE_FRAME = "unreadable frame"
NO_FACE = "no face found (whole frame used)"

SHOWN_ERRORS = 8  # errors spelled out in the message of a refused set
_LAST_INTEGER = re.compile(r"(\d+)(?!.*\d)")
_INTEGER = re.compile(r"-?\d+(?:\.0+)?")


@dataclass(frozen=True)
class VideoFolder:
    """A video's folder and its frame files ordered by the number in their names; ``stamp`` digests
    the files' names, sizes and modification times (what the cache of its processed frames is keyed by)."""

    subject: str
    name: str
    folder: Path
    frames: tuple[Path, ...]
    numbers: tuple[int, ...]
    stamp: str

    @property
    def key(self) -> tuple[str, str]:
        return self.subject, self.name

    def span(self) -> str:
        """``'s15/15_0101disgustingteeth (frames 1-3000)'``: the video and its frame numbers, for messages."""
        return f"{self.subject}/{self.name} (frames {self.numbers[0]}-{self.numbers[-1]})"


def error(source: str, where: str, kind: str, message: str, fix: str) -> Finding:
    """A finding that breaks spotting: what is wrong at ``where`` (a file and row, or a video) and how to fix it."""
    return Finding(source, where, kind, message, fix, True)


def scan_video(source: str, subject: str, folder: Path) -> VideoFolder | Finding:
    """The frame files of a video folder, or the error finding that it holds none (or repeats a number)."""
    numbered = []
    for entry in os.scandir(folder):
        match = _LAST_INTEGER.search(Path(entry.name).stem)
        if match and Path(entry.name).suffix.lower() in FRAME_SUFFIXES and entry.is_file():
            stat = entry.stat()
            numbered.append((int(match.group(1)), entry.name, stat.st_size, stat.st_mtime_ns))
    numbered.sort()
    where = f"{subject}/{folder.name}"
    if not numbered:
        return error(source, where, NO_FRAMES, f"{folder} holds no numbered frames", "restore the video's frames from the dataset")
    numbers = [n for n, *_ in numbered]
    repeated = sorted({n for n, m in zip(numbers, numbers[1:], strict=False) if n == m})
    if repeated:
        names = [name for n, name, *_ in numbered if n == repeated[0]]
        message = f"{folder} holds several frames numbered {repeated[0]}: {', '.join(names)}"
        return error(source, where, DUPLICATE_FRAME, message, "keep one file per frame number")
    return VideoFolder(
        subject, folder.name, folder, tuple(folder / name for _, name, *_ in numbered), tuple(numbers), content_key(numbered)
    )


def frame_cell(text: str) -> int | None:
    """A frame number from a sheet cell (``'46'``, ``'46.0'``, ``'-1'``), or ``None`` when it is none."""
    return int(float(text)) if _INTEGER.fullmatch(text.strip()) else None


def expression_kind(cell: str) -> str | None:
    """``'micro'`` or ``'macro'`` from a type cell (``micro-expression``, ``Micro - 1/2``, ``Macro``), else ``None``."""
    text = normalise_header(cell)
    return next((kind for kind in ("micro", "macro") if text.startswith(kind)), None)


@dataclass(frozen=True)
class CodedRow:
    """One sheet row's interval as written: cells of onset, apex, offset and type, where it is (file, row), and its emotion."""

    onset: str
    apex: str
    offset: str
    kind: str
    where: str
    label: str = ""  # the coded emotion, where the sheet has one


def coded_interval(source: str, video: VideoFolder, row: CodedRow, uncoded: frozenset[str]) -> tuple[Interval | None, list[Finding]]:
    """The row's interval as 0-based positions among the video's frame files, and what was wrong with it.

    An offset cell in ``uncoded`` (the set's mark for "not coded") falls back to the apex, with a warning.
    """
    kind = expression_kind(row.kind)
    if kind is None:
        fix = "write micro- or macro-expression (as the dataset codes them), or delete the row"
        return None, [error(source, row.where, BAD_TYPE, f"type {row.kind!r} is neither micro nor macro", fix)]
    onset, offset, notes = frame_cell(row.onset), frame_cell(row.offset), []
    if row.offset.strip() in uncoded:
        offset = frame_cell(row.apex)
        if offset is not None:
            message = f"offset {row.offset!r} means not coded; the apex {offset} ends the interval"
            notes.append(Finding(source, row.where, UNCODED_OFFSET, message, "code the offset in the sheet if it is known"))
    if onset is None or offset is None:
        cells = f"onset {row.onset!r}, apex {row.apex!r}, offset {row.offset!r}"
        message = f"{cells}: onset or offset is not a frame number"
        return None, [error(source, row.where, NOT_A_NUMBER, message, "write the frame numbers as in the frame file names")]
    if offset < onset:
        message = f"offset {offset} comes before onset {onset}"
        return None, [error(source, row.where, BAD_RANGE, message, "fix the row's onset and offset")]
    if onset < video.numbers[0] or offset > video.numbers[-1]:
        message = f"frames {onset}-{offset} lie outside the video {video.span()}"
        fix = "fix the row's onset and offset (frame numbers as in the file names), or restore the video's missing frames"
        return None, [error(source, row.where, OUTSIDE, message, fix)]
    start = bisect.bisect_left(video.numbers, onset)
    end = max(start, bisect.bisect_right(video.numbers, offset) - 1)
    return Interval(start, end, kind, row.label.strip().lower()), notes


@dataclass(frozen=True)
class LongVideoCatalogue:
    """A long-video set as listed: its videos (every folder, coded or not), each video's intervals
    (0-based positions among its frame files), the findings and where it was read from."""

    source: str
    title: str
    fps: float
    videos: tuple[VideoFolder, ...]
    truth: dict[tuple[str, str], tuple[Interval, ...]] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    origin: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]

    def require(self) -> None:
        """Refuse the set, naming every file (and row) that would break spotting, before any frame is decoded."""
        errors = self.errors
        if not errors:
            return
        fixes = {f.fix for f in errors}
        lines = "\n".join(f"  - {f.line(with_fix=len(fixes) > 1)}" for f in errors[:SHOWN_ERRORS])
        more = f"\n  ... and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        fix = (
            next(iter(fixes))
            if len(fixes) == 1
            else f"fix each file named above (`merauto datasets check --dataset {self.source}` lists every problem)"
        )
        raise MerautoError(f"{self.title} ({self.origin}): {len(errors)} problem(s) would break spotting:\n{lines}{more}", fix)
