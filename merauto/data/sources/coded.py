"""CASME II, SAMM and CASME: clips listed in a coding sheet, frames in ``subject/sample`` folders.

The three share one shape: a sheet with Subject, Filename, onset/apex/offset frame numbers
(absolute video frame indices, as in the frame file names), action units and an emotion.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding, LoadedDataset
from merauto.data.clips import ClipSpec, build_sample, frame_value
from merauto.data.labels import ClassScheme
from merauto.data.locations import SourceLocation
from merauto.data.sample_index import SampleIndex
from merauto.data.sheets import Column, SheetRow, read_sheet

COLUMNS = (
    Column("subject", ("Subject",)),
    Column("filename", ("Filename",)),
    Column("onset", ("OnsetFrame", "OnsetF")),
    Column("apex", ("ApexFrame", "ApexF1", "ApexF")),
    Column("offset", ("OffsetFrame", "OffsetF")),
    Column("emotion", ("Estimated Emotion", "Emotion")),
    Column("action_units", ("Action Units", "AUs", "AU"), required=False),
)
_INTERVAL = re.compile(r"(.+_\d+)_(\d{1,2})")  # CASME II EP06_02_01: interval 1 of clip EP06_02


@dataclass(frozen=True)
class CodedDataset:
    """What differs between the coding-sheet datasets."""

    name: str
    fps: float
    subject_prefix: str
    subject_digits: int
    intervals_share_folder: bool = False  # CASME II: EP06_02_01/_02 may both live in folder EP06_02

    def subject_folder(self, cell: str) -> str:
        """The subject's folder name from its sheet cell: '1', '01', 'sub01' -> 'sub01'; '6' -> '006'."""
        digits = re.sub(r"\D", "", cell)
        return f"{self.subject_prefix}{int(digits):0{self.subject_digits}d}" if digits else cell


CODED: dict[str, CodedDataset] = {
    "casme2": CodedDataset("casme2", 200.0, "sub", 2, intervals_share_folder=True),
    "samm": CodedDataset("samm", 200.0, "", 3),
    "casme": CodedDataset("casme", 60.0, "sub", 2),
}


@dataclass(frozen=True)
class CodedClip:
    """One row of a coding sheet. ``sample`` is unique per subject: a filename listed twice
    (two annotated intervals of one video) becomes ``{filename}_01`` and ``{filename}_02``."""

    subject: str
    sample: str
    filename: str
    row: SheetRow
    where: str


def coded_clips(dataset: CodedDataset, sheet: Path) -> dict[tuple[str, str], CodedClip]:
    """Every clip of a coding sheet by (subject folder, sample); rows naming no subject or file (notes) are skipped."""
    rows = [r for r in read_sheet(sheet, COLUMNS) if r.values["subject"] and r.values["filename"]]
    keys = [(dataset.subject_folder(r.values["subject"]), r.values["filename"]) for r in rows]
    repeats = Counter(keys)
    seen: Counter[tuple[str, str]] = Counter()
    clips = {}
    for row, (subject, filename) in zip(rows, keys, strict=True):
        seen[(subject, filename)] += 1
        sample = filename if repeats[(subject, filename)] == 1 else f"{filename}_{seen[(subject, filename)]:02d}"
        clips[(subject, sample)] = CodedClip(subject, sample, filename, row, f"{sheet.name}, row {row.number}")
    return clips


def frame_folder(dataset: CodedDataset, frames: Path, clip: CodedClip) -> tuple[Path, str | None]:
    """The clip's frame folder, and a note when it was found under another name than the sample's."""
    names = [clip.sample, clip.filename]
    interval = _INTERVAL.fullmatch(clip.sample) if dataset.intervals_share_folder else None
    if interval:
        names.append(interval.group(1))
    for name in dict.fromkeys(names):
        folder = frames / clip.subject / name
        if folder.is_dir():
            note = None if name == clip.sample else f"frames of {clip.subject}/{clip.sample} read from folder {folder} (intervals share it)"
            return folder, note
    return frames / clip.subject / clip.sample, None


def clip_spec(
    dataset: CodedDataset, location: SourceLocation, clip: CodedClip, sample_id: str, subject: str, label: str
) -> tuple[ClipSpec, list[Finding]]:
    """The :class:`ClipSpec` of a coding-sheet row under the given id, subject and label."""
    folder, note = frame_folder(dataset, location.frames, clip)
    values = clip.row.values
    spec = ClipSpec(
        id=sample_id,
        source=dataset.name,
        subject=subject,
        label=label,
        raw_label=values["emotion"],
        folder=folder,
        onset=frame_value(values["onset"]),
        apex=frame_value(values["apex"]),
        offset=frame_value(values["offset"]),
        fps=dataset.fps,
        where=clip.where,
        action_units=values.get("action_units", ""),
    )
    notes = [Finding(dataset.name, sample_id, kinds.OTHER_FOLDER_NAME, note)] if note else []
    return spec, notes


def read_coded(name: str, location: SourceLocation, scheme: ClassScheme, index_name: str) -> LoadedDataset:
    """A coding-sheet dataset on its own, its raw labels mapped by ``scheme``."""
    assert location.coding is not None
    dataset = CODED[name]
    samples, found, mapped = [], [], set()
    for clip in coded_clips(dataset, location.coding).values():
        label = scheme.map(clip.row.values["emotion"])
        if label is None:
            continue
        mapped.add(label)
        spec, notes = clip_spec(dataset, location, clip, f"{name}/{clip.subject}/{clip.sample}", clip.subject, label)
        sample, more = build_sample(spec)
        found += notes + more
        if sample is not None:
            samples.append(sample)
    index = SampleIndex(index_name, scheme.classes(mapped), tuple(samples), scheme.description)
    return LoadedDataset(index, tuple(found), {name: location.origin})
