"""SAMM long videos as distributed: ``SAMM_longvideos/006_1/006_1_0001.jpg`` (a folder per video,
frames numbered in their names) and the coding sheet ``SAMM_LongVideos_V3_Release.xlsx`` (V2 too).

The sheet has rows of preamble text above its header: Subject, Filename, Inducement Code, Onset,
Apex, Offset, Duration, Type, Action Units, Notes. ``Filename`` ``006_1_2`` is expression 2 of
video ``006_1``; Type is ``Micro - 1/2`` or ``Macro``; onset and offset are frame numbers of the
video's files, an offset of -1 (or none) meaning not coded.
"""

from __future__ import annotations

import re
from pathlib import Path

from merauto.data.checks.findings import Finding
from merauto.data.locations import SourceLocation
from merauto.data.long_videos.folders import Interval
from merauto.data.sheets import Column, read_sheet
from merauto.data.sources.long_video_catalogue import (
    BAD_FILENAME,
    MISSING_FOLDER,
    CodedRow,
    LongVideoCatalogue,
    VideoFolder,
    coded_interval,
    error,
    scan_video,
)

SOURCE = "samm-lv"
TITLE = "SAMM long videos"
FPS = 200.0
UNCODED = frozenset({"", "-1"})
COLUMNS = (
    Column("filename", ("Filename",)),
    Column("onset", ("Onset", "Onset Frame")),
    Column("apex", ("Apex", "Apex Frame"), required=False),
    Column("offset", ("Offset", "Offset Frame")),
    Column("type", ("Type",)),
    Column("emotion", ("Estimated Emotion", "Emotion"), required=False),
)
_VIDEO = re.compile(r"(\d+)_\d+")
_EXPRESSION = re.compile(r"(\d+_\d+)_\d+")


def _videos(frames: Path) -> tuple[list[VideoFolder], list[Finding]]:
    """Every ``{subject}_{n}`` folder under ``frames``, and the findings of empty ones."""
    videos, findings = [], []
    for folder in sorted(p for p in frames.iterdir() if p.is_dir() and _VIDEO.fullmatch(p.name)):
        scanned = scan_video(SOURCE, _VIDEO.fullmatch(folder.name).group(1), folder)  # type: ignore[union-attr]
        (videos if isinstance(scanned, VideoFolder) else findings).append(scanned)
    return videos, findings


def read_samm_lv(location: SourceLocation) -> LongVideoCatalogue:
    """The SAMM long videos at ``location`` (frames: the ``SAMM_longvideos`` folder) with their coded intervals."""
    assert location.coding is not None
    sheet = location.coding
    videos, findings = _videos(location.frames)
    by_name = {v.name: v for v in videos}
    truth: dict[tuple[str, str], list[Interval]] = {}
    for row in read_sheet(sheet, COLUMNS):
        values, where = row.values, f"{sheet.name}, row {row.number}"
        if not values["filename"]:
            continue  # a note below the table
        expression = _EXPRESSION.fullmatch(values["filename"])
        if expression is None:
            message = f"Filename {values['filename']!r} does not name an expression of a video (e.g. 006_1_2)"
            findings.append(error(SOURCE, where, BAD_FILENAME, message, "write the Filename as distributed: SUBJECT_VIDEO_N"))
            continue
        name = expression.group(1)
        video = by_name.get(name)
        if video is None:
            message = f"no folder {location.frames / name} holds the frames of {values['filename']}"
            fix = f"restore the video's frames from the dataset ({name}/{name}_0001.jpg, ...)"
            findings.append(error(SOURCE, where, MISSING_FOLDER, message, fix))
            continue
        coded = CodedRow(values["onset"], values["apex"], values["offset"], values["type"], where, values.get("emotion") or "")
        interval, notes = coded_interval(SOURCE, video, coded, UNCODED)
        findings += notes
        if interval is not None:
            truth.setdefault(video.key, []).append(interval)
    return LongVideoCatalogue(SOURCE, TITLE, FPS, tuple(videos), {k: tuple(v) for k, v in truth.items()}, tuple(findings), location.origin)
