"""Clips to classify with an export: folders named on the command line, or a CSV listing each clip
with its own annotation (``merauto predict --clips-csv``).

The CSV has a header row with a ``folder`` column and optionally ``onset``, ``apex``, ``offset``
(frame numbers as in the frame files' names; empty: the first frame, spotted, the last frame)
and ``label``. Relative folders are resolved against the CSV's own folder. Every problem is
raised before any input is computed, naming the file, its line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from merauto.data.clips import folder_clip
from merauto.data.sample_index import Sample
from merauto.errors import MerautoError

FRAME_COLUMNS = ("onset", "apex", "offset")
CSV_COLUMNS = ("folder", *FRAME_COLUMNS, "label")


@dataclass(frozen=True)
class NewClip:
    """A clip folder to classify: frame numbers (``None``: onset the first frame, apex spotted from
    optical flow, offset the last frame), its label when known, and ``where`` it was listed (a CSV
    file and line; empty for a folder named on the command line)."""

    folder: Path
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    label: str | None = None
    where: str = ""

    def sample(self, label: str, sample_id: str | None = None) -> Sample:
        """The clip as a :class:`Sample` of class ``label``, its frame numbers checked against the folder."""
        return folder_clip(self.folder, self.onset, self.apex, label, offset=self.offset, where=self.where, sample_id=sample_id)


def read_clip_list(path: Path) -> list[NewClip]:
    """The clips a CSV lists, each frame number and folder checked; a bad file or row raises a
    :class:`MerautoError` naming the file, line and column."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = [(reader.line_num, [value.strip() for value in row]) for row in reader if any(value.strip() for value in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise MerautoError(f"cannot read --clips-csv {path}: {error}", "pass a CSV file with a header row and a folder column") from None
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if "folder" not in header or unknown:
        problem = f"has unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "has no folder column"
        raise MerautoError(
            f"--clips-csv {path} {problem} (its header: {', '.join(header) or 'none'})",
            f"name the columns {', '.join(CSV_COLUMNS)} (only folder is required) in the first row",
        )
    if not rows:
        raise MerautoError(f"--clips-csv {path} lists no clips", "add one row per clip folder below the header")
    for line, values in rows:
        if len(values) > len(header):
            raise MerautoError(
                f"{path}, line {line}: {len(values)} cells, but the header names {len(header)} columns", "quote cells that hold commas"
            )
    clips = [_clip(path, line, dict(zip(header, values, strict=False))) for line, values in rows]
    for clip in clips:
        clip.sample("")  # the folder and its frame numbers, before any computation
    return clips


def clips_to_classify(
    folders: Sequence[str | Path] = (), clips_csv: str | Path | None = None, onset: int | None = None, apex: int | None = None
) -> list[NewClip]:
    """The clips `merauto predict` classifies: those ``clips_csv`` lists, or the ``folders`` with
    frame numbers ``onset`` and ``apex`` (``None``: the first frame, spotted); every folder and frame
    number checked before any input is computed."""
    if clips_csv is not None:
        if folders or onset is not None or apex is not None:
            raise MerautoError(
                "--clips-csv lists the clips and their frame numbers; clip folders, --onset and --apex cannot be added to it",
                "add the folders to the CSV (columns folder, onset, apex, offset, label), or drop --clips-csv",
            )
        return read_clip_list(Path(clips_csv))
    if not folders:
        raise MerautoError("no clips to classify", "name clip folders after the export folder, or pass --clips-csv FILE")
    clips = [NewClip(Path(folder), onset, apex) for folder in folders]
    for clip in clips:
        clip.sample("")
    return clips


def check_labels(clips: list[NewClip], classes: tuple[str, ...], source: str) -> None:
    """Refuse a clip whose label is not one of ``classes`` (those of the export ``source``)."""
    for clip in clips:
        if clip.label is not None and clip.label not in classes:
            raise MerautoError(
                f"{clip.where}, column label ({clip.label!r}): not a class of the export {source} ({', '.join(classes)})",
                "label each clip with one of the export's classes, or leave the label empty",
            )


def _clip(path: Path, line: int, row: dict[str, str]) -> NewClip:
    where = f"{path}, line {line}"
    if not row.get("folder"):
        raise MerautoError(f"{where}, column folder: empty", "name the clip's folder of numbered frames on every row")
    frames = {column: _frame_number(row.get(column, ""), where, column) for column in FRAME_COLUMNS}
    return NewClip(path.parent / row["folder"], **frames, label=row.get("label") or None, where=where)


def _frame_number(text: str, where: str, column: str) -> int | None:
    """An integer frame number (``12`` or ``12.0``), ``None`` for an empty cell."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer() or value < 0:
        raise MerautoError(
            f"{where}, column {column} ({text!r}): not a frame number",
            "write the frame number as in the frame file's name (e.g. 12 for img12.jpg), or leave the cell empty",
        )
    return int(value)
