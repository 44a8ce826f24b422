"""CAS(ME)^2 long videos as distributed: ``rawpic/s15/15_0101disgustingteeth/img1.jpg`` and the
coding sheet ``CAS(ME)^2code_final.xlsx`` (or ``CAS(ME)^2code_final(Updated).xlsx``).

The sheet's first worksheet has no header row; its columns are participant number, expression
name (``disgust1_1``: video ``disgust1``), onset, apex, offset, action units, emotion, type
(``micro-expression``/``macro-expression``) and self-report. Two more worksheets map video codes
to video names (``0101`` - ``disgust1``) and participant numbers to subject codes (``1`` - ``15``,
folder ``s15``); they are told apart by their content, and the origin says which was which. A
row's video is the folder of ``rawpic/s{code}/`` whose name starts with ``{code}_{videocode}``.
Frame numbers in the sheet are those of the ``img{n}.jpg`` files. Offset 0 means not coded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merauto.data.checks.findings import Finding
from merauto.data.locations import SourceLocation
from merauto.data.long_videos.folders import Interval
from merauto.data.sheets import cell_text, read_tables
from merauto.data.sources.long_video_catalogue import (
    BAD_SHEET,
    MISSING_FOLDER,
    UNKNOWN_PARTICIPANT,
    UNKNOWN_VIDEO,
    CodedRow,
    LongVideoCatalogue,
    VideoFolder,
    coded_interval,
    error,
    scan_video,
)

SOURCE = "casme2-lv"
TITLE = "CAS(ME)^2 long videos"
FPS = 30.0
UNCODED = frozenset({"", "0"})  # offset 0: not coded
COLUMNS = 9  # participant, expression, onset, apex, offset, action units, emotion, type, self-report
_SUBJECT = re.compile(r"s(\d+)", re.IGNORECASE)
_CODE = re.compile(r"\d{1,4}")
_NAME = re.compile(r"[A-Za-z]{2,}\d*")
_NUMBER = re.compile(r"[sS]?(\d+)")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _video_codes(rows: list[list[Any]]) -> dict[str, str]:
    """Video name (lower case) -> 4-digit code, from the rows of a sheet that pair a code with names (in any column)."""
    codes = {}
    for row in rows:
        cells = [cell_text(c) for c in row]
        code = next((c for c in cells if _CODE.fullmatch(c)), None)
        if code is not None:
            codes.update({c.lower(): f"{int(code):04d}" for c in cells if _NAME.fullmatch(c)})
    return codes


def _participants(rows: list[list[Any]]) -> tuple[dict[int, int], str]:
    """Participant number -> subject code from a sheet of number pairs, and which columns were read as which.

    The participant column is the first whose values are 1..n; the subject column the first other one.
    """
    numeric = [[int(m.group(1)) if (m := _NUMBER.fullmatch(cell_text(c))) else None for c in row] for row in rows]
    numeric = [r for r in numeric if sum(v is not None for v in r) >= 2]
    width = max((len(r) for r in numeric), default=0)
    columns = [[r[i] for r in numeric if i < len(r) and r[i] is not None] for i in range(width)]
    full = [i for i, values in enumerate(columns) if len(values) == len(numeric)]
    if len(full) < 2:
        return {}, ""
    participant = next((i for i in full if sorted(columns[i]) == list(range(1, len(numeric) + 1))), full[0])
    subject = next(i for i in full if i != participant)
    columns_read = f"participant column {_LETTERS[participant]}, subject column {_LETTERS[subject]}"
    return dict(zip(columns[participant], columns[subject], strict=True)), columns_read


@dataclass(frozen=True)
class _Mappings:
    """The coding sheet's two mapping worksheets, and a note of which worksheet gave which."""

    video_codes: dict[str, str]
    participants: dict[int, int]
    note: str


def _mappings(tables: list[tuple[str, list[list[Any]]]]) -> _Mappings:
    """The video-code and participant mappings among the worksheets after the first, told apart by content."""
    codes: tuple[dict[str, str], str] = ({}, "")
    participants: tuple[dict[int, int], str, str] = ({}, "", "")
    for title, rows in tables[1:]:
        video_codes = _video_codes(rows)
        mapping, columns = _participants(rows)
        if len(video_codes) > len(codes[0]) and len(video_codes) >= len(mapping):
            codes = (video_codes, title)
        elif len(mapping) > len(participants[0]):
            participants = (mapping, title, columns)
    note = f"video codes from worksheet {codes[1]!r}, participants from worksheet {participants[1]!r} ({participants[2]})"
    return _Mappings(codes[0], participants[0], note)


def _videos(rawpic: Path) -> tuple[list[VideoFolder], list[Finding], dict[int, Path]]:
    """Every video folder under ``rawpic/s*/``, the findings of unusable ones, and the subject folders by code."""
    videos, findings, subjects = [], [], {}
    for folder in sorted(p for p in rawpic.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)):
        subjects[int(folder.name[1:])] = folder
        for video in sorted(p for p in folder.iterdir() if p.is_dir()):
            scanned = scan_video(SOURCE, folder.name, video)
            (videos if isinstance(scanned, VideoFolder) else findings).append(scanned)
    return videos, findings, subjects


def _row_video(
    cells: list[str], where: str, mappings: _Mappings, subjects: dict[int, Path], videos: list[VideoFolder], rawpic: Path
) -> VideoFolder | Finding:
    """The video folder a coding row names (participant -> subject code, video name -> video code), or why there is none."""
    participant = _NUMBER.fullmatch(cells[0])
    code = mappings.participants.get(int(participant.group(1))) if participant else None
    if code is None:
        message = f"participant {cells[0]!r} is not in the participant mapping worksheet"
        return error(SOURCE, where, UNKNOWN_PARTICIPANT, message, "write a participant number that worksheet lists (1-22)")
    name = cells[1].split("_")[0]
    video_code = mappings.video_codes.get(name.lower())
    if video_code is None:
        message = f"video {name!r} (expression {cells[1]!r}) is not in the video code mapping worksheet"
        return error(SOURCE, where, UNKNOWN_VIDEO, message, "write the expression as VIDEO_N with a video name it lists (e.g. disgust1_1)")
    subject = subjects.get(code)
    prefix = f"{subject.name[1:]}_{video_code}" if subject else ""
    found = next((v for v in videos if subject and v.subject == subject.name and v.name.startswith(prefix)), None)
    if found is None:
        folder = rawpic / f"s{code}" / f"{code}_{video_code}*"
        rawvideo = rawpic.parent / "rawvideo" / f"s{code}" / f"{code}_{video_code}*.avi"
        message = f"no folder {folder} holds the frames of video {name} (code {video_code}) of participant {cells[0]} (subject s{code})"
        fix = f"restore the folder from the dataset's rawpic, or extract {rawvideo} into img1.jpg, img2.jpg, ... there"
        return error(SOURCE, where, MISSING_FOLDER, message, fix)
    return found


def read_casme2_lv(location: SourceLocation) -> LongVideoCatalogue:
    """The CAS(ME)^2 long videos at ``location`` (frames: the ``rawpic`` folder) with their coded intervals."""
    assert location.coding is not None
    sheet = location.coding
    videos, findings, subjects = _videos(location.frames)
    tables = read_tables(sheet)
    mappings = _mappings(tables)
    origin = f"{location.origin}; {mappings.note}"
    if not mappings.video_codes or not mappings.participants:
        lacking = "video codes to video names (0101 - disgust1)" if not mappings.video_codes else "participants to subjects (1 - 15)"
        fix = "use the coding sheet as distributed: its 2nd and 3rd worksheets map video codes and participants"
        problem = error(SOURCE, sheet.name, BAD_SHEET, f"no worksheet after the first maps {lacking}", fix)
        return LongVideoCatalogue(SOURCE, TITLE, FPS, tuple(videos), {}, (*findings, problem), origin)
    rows = [(n, [cell_text(c) for c in row]) for n, row in enumerate(tables[0][1], 1)]
    rows = [(n, cells + [""] * (COLUMNS - len(cells))) for n, cells in rows if any(cells)]
    if rows and not _NUMBER.fullmatch(rows[0][1][0]) and not _NUMBER.fullmatch(rows[0][1][2]):
        origin += f"; row {rows[0][0]} of worksheet {tables[0][0]!r} read as a header"
        rows = rows[1:]
    truth: dict[tuple[str, str], list[Interval]] = {}
    for number, cells in rows:
        where = f"{sheet.name}, row {number}"
        video = _row_video(cells, where, mappings, subjects, videos, location.frames)
        if isinstance(video, Finding):
            findings.append(video)
            continue
        interval, notes = coded_interval(SOURCE, video, CodedRow(cells[2], cells[3], cells[4], cells[7], where, cells[6]), UNCODED)
        findings += notes
        if interval is not None:
            truth.setdefault(video.key, []).append(interval)
    return LongVideoCatalogue(SOURCE, TITLE, FPS, tuple(videos), {k: tuple(v) for k, v in truth.items()}, tuple(findings), origin)
