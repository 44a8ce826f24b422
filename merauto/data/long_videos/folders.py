"""Long videos for spotting: a folder per video of numbered frames and an annotation CSV.

The layout (the synthetic long-video set's, and the manifest form for any other set):
``ROOT/annotations.csv`` with columns ``subject, video, onset, apex, offset, type`` (frame
numbers as in the file names, inclusive; type ``micro`` or ``macro``; optionally ``label``, the
class a spot-then-recognise score compares recognised labels with)
and the frames of video V of subject S in ``ROOT/S/V/``, ordered by the number in their names.
Every frame is decoded and every row checked when the set is read; a problem names its file
(and line) and the fix.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merauto.errors import MerautoError

KINDS = ("micro", "macro")
_NUMBER = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


@dataclass(frozen=True)
class Interval:
    """Frames ``start``..``end`` (inclusive, 0-based) of one expression of ``kind`` (micro or macro), and its class label when coded."""

    start: int
    end: int
    kind: str = "micro"
    label: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"interval ends ({self.end}) before it starts ({self.start})")

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class LongVideo:
    """One long video: its subject, grey frames (n, H, W) uint8, frame rate and ground truth (0-based frames)."""

    subject: str
    name: str
    frames: np.ndarray
    fps: float
    truth: tuple[Interval, ...]


def read_frames(folder: Path) -> tuple[np.ndarray, int]:
    """A video folder's frames as grey (n, H, W) uint8, ordered by the number in their names, and the first number."""
    if not folder.is_dir():
        raise MerautoError(f"{folder}: no such video folder", "put the video's frames there, or fix its row in annotations.csv")
    numbered = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _NUMBER.search(p.name)))
    if not numbered:
        raise MerautoError(f"{folder} holds no numbered frames", "extract the video's frames as e.g. img00001.jpg")
    frames = []
    for _, path in numbered:
        frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if frame is None:
            raise MerautoError(f"{path} cannot be decoded as an image", "re-extract the frame, or remove the damaged file")
        if frames and frame.shape != frames[0].shape:
            raise MerautoError(
                f"{path} is {frame.shape[1]}x{frame.shape[0]}, its video's first frame {frames[0].shape[1]}x{frames[0].shape[0]}",
                "extract every frame of a video at one size",
            )
        frames.append(frame)
    return np.stack(frames), numbered[0][0]


def read_video(path: Path) -> tuple[np.ndarray, int]:
    """A long video as grey (n, H, W) uint8 frames and the number of its first frame: a folder of
    numbered frames (:func:`read_frames`) or a video file opencv can decode (frames numbered from 1)."""
    if Path(path).is_dir():
        return read_frames(Path(path))
    if not Path(path).is_file():
        raise MerautoError(f"--video {path}: no such file or folder", "pass a video file or a folder of numbered frames")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
    capture.release()
    if len(frames) < 2:
        raise MerautoError(
            f"{path} cannot be decoded as a video (opencv read {len(frames)} frames)",
            "convert it (e.g. to MP4 or AVI), or extract its frames into a folder",
        )
    return np.stack(frames), 1


def _uncoded_videos(root: Path, subjects: set[str], coded: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(subject, video) of every folder of numbered frames in a coded subject's folder that no row names."""
    return sorted(
        (subject, folder.name)
        for subject in subjects
        if (root / subject).is_dir()
        for folder in (root / subject).iterdir()
        if folder.is_dir() and (subject, folder.name) not in coded and any(_NUMBER.search(p.name) for p in folder.iterdir())
    )


def load_long_videos(annotations: Path, fps: float) -> list[LongVideo]:
    """Every video under ``annotations``' folder with its intervals (rows checked against the frames).

    A coded subject's videos without any row are read too, with no intervals (MEGC's STRS script
    does not score what is spotted in them: :mod:`merauto.evaluator.spotting_metrics`)."""
    root = annotations.parent
    rows: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    with annotations.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"subject", "video", "onset", "apex", "offset", "type"} - set(reader.fieldnames or ())
        if missing:
            raise MerautoError(
                f"{annotations} lacks the columns {', '.join(sorted(missing))}", "columns: subject, video, onset, apex, offset, type"
            )
        for line, row in enumerate(reader, 2):
            rows.setdefault((row["subject"], row["video"]), []).append((line, row))
    for key in _uncoded_videos(root, {subject for subject, _ in rows}, set(rows)):
        rows[key] = []
    videos = []
    for (subject, name), coded in sorted(rows.items()):
        frames, first = read_frames(root / subject / name)
        truth = []
        for line, row in coded:
            where = f"{annotations}, line {line}"
            try:
                onset, offset = int(row["onset"]), int(row["offset"])
            except ValueError:
                raise MerautoError(
                    f"{where}: onset {row['onset']!r} or offset {row['offset']!r} is not a frame number", "fix the row"
                ) from None
            if row["type"] not in KINDS:
                raise MerautoError(f"{where}: type {row['type']!r} is neither micro nor macro", "write micro or macro")
            if not first <= onset <= offset < first + len(frames):
                raise MerautoError(
                    f"{where}: frames {onset}-{offset} lie outside the video {subject}/{name} (frames {first}-{first + len(frames) - 1})",
                    "fix the row's onset and offset, or the video's frames",
                )
            truth.append(Interval(onset - first, offset - first, row["type"], (row.get("label") or "").strip()))
        videos.append(LongVideo(subject, name, frames, fps, tuple(truth)))
    return videos
