"""Fixture builders: tiny generated copies of the licensed datasets in their distributed layouts.

Frames are 16x16 noise images (a few per clip); coding sheets carry the quirks of the real
ones (preamble rows, unnamed columns, '/' apexes, an offset typo, two intervals sharing a
folder). Nothing here is real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook

from merauto.data.sources.composite import composite_rows
from merauto.data.sources.ststnet import feature_name

CASME2_SHEET = "CASME2-coding-20140508.xlsx"
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_PREAMBLE = 13
# One raw label per composite class and source, cycled so every raw label appears.
RAW_LABELS = {
    "casme2": {"negative": ("disgust", "repression"), "positive": ("happiness",), "surprise": ("surprise",)},
    "samm": {"negative": ("anger", "contempt", "disgust", "fear", "sadness"), "positive": ("happiness",), "surprise": ("surprise",)},
}
# Quirks of the real sheets, at fixed samples (native subject, sample).
CASME2_SLASH_APEX = ("sub01", "EP19_05f")
CASME2_OFFSET_TYPO = ("sub02", "EP01_11f")
SAMM_MISSING_APEX = ("006", "006_1_3")


@dataclass(frozen=True)
class Clip:
    """A clip to lay out: native ids, raw label and its frame numbers."""

    dataset: str
    subject: str
    sample: str
    raw_label: str
    first: int
    n_frames: int = 4


def composite_clips() -> list[Clip]:
    """The 442 composite clips as native clips, with a raw label that maps to the csv's label."""
    clips, seen = [], {"casme2": 0, "samm": 0}
    for i, row in enumerate(composite_rows()):
        if row.dataset == "smic":
            raw = row.label
        else:
            choices = RAW_LABELS[row.dataset][row.label]
            raw = choices[seen[row.dataset] % len(choices)]
            seen[row.dataset] += 1
        first = 5000 + 10 * i if row.dataset == "samm" else 40 + i % 50
        clips.append(Clip(row.dataset, row.native_subject, row.native_sample, raw, first))
    return clips


def extra_clips() -> list[Clip]:
    """Coded clips outside the composite (labels it drops, and one it could map but does not list)."""
    return [
        Clip("casme2", "sub01", "EP01_01", "others", 10),
        Clip("casme2", "sub01", "EP03_02", "fear", 10),
        Clip("casme2", "sub02", "EP02_02", "sadness", 10),
        Clip("casme2", "sub03", "EP05_05", "happiness", 10),
        Clip("samm", "006", "006_9_9", "other", 9000),
    ]


def write_frames(folder: Path, numbers: range, name: str, suffix: str, colour: bool, seed: int) -> None:
    """Tiny noise frames ``{name}{number}{suffix}`` (e.g. ``reg_img46.jpg``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, (16, 16, 3) if colour else (16, 16), dtype=np.uint8)
    for k, number in enumerate(numbers):
        frame = np.roll(base, k // 2, axis=1)
        cv2.imwrite(str(folder / f"{name}{number}{suffix}"), frame)


def _save(workbook: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def write_casme2(root: Path, clips: list[Clip], cropped: bool = True) -> Path:
    """``CASME2/Cropped/sub01/EP02_01f/reg_img46.jpg`` (or raw ``CASME2_RAW_selected/.../img46.jpg``) and the coding sheet.

    Intervals ``EP06_02_01``/``EP06_02_02`` are written as two sheet rows named ``EP06_02``
    sharing one folder. Returns the frames folder.
    """
    frames = root / "CASME2" / ("Cropped" if cropped else "CASME2_RAW_selected")
    sheet = Workbook()
    table = sheet.active
    table.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion"])
    folder_frames: dict[Path, list[int]] = {}
    for i, clip in enumerate(clips):
        name = clip.sample[:-3] if clip.sample.startswith("EP06_02_0") else clip.sample
        folder = frames / clip.subject / name
        shared = folder_frames.setdefault(folder, [])
        first = clip.first + len(shared)
        numbers = range(first, first + clip.n_frames)
        shared.extend(numbers)
        onset, apex, offset = numbers[0], numbers[2], numbers[-1]
        apex_cell: object = "/" if (clip.subject, clip.sample) == CASME2_SLASH_APEX else apex
        offset_cell = offset * 100 if (clip.subject, clip.sample) == CASME2_OFFSET_TYPO else offset
        table.append([int(clip.subject[3:]), name, i, onset, apex_cell, offset_cell, "", "4+7", clip.raw_label])
        write_frames(folder, numbers, "reg_img" if cropped else "img", ".jpg", True, seed=i)
    _save(sheet, root / "CASME2" / CASME2_SHEET)
    return frames


def write_samm(root: Path, clips: list[Clip]) -> Path:
    """``SAMM/006/006_1_2/006_05562.jpg`` (grey) and the coding sheet below 13 preamble rows."""
    frames = root / "SAMM"
    sheet = Workbook()
    table = sheet.active
    for line in range(SAMM_PREAMBLE):
        table.append([f"SAMM micro-movement coding, note {line}"] if line % 3 == 0 else [])
    table.append(
        ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration", "Type", "Action Units", "Notes",
         "Estimated Emotion"]
    )  # fmt: skip
    for i, clip in enumerate(clips):
        numbers = range(clip.first, clip.first + clip.n_frames)
        apex = -1 if (clip.subject, clip.sample) == SAMM_MISSING_APEX else numbers[1]
        table.append(
            [
                int(clip.subject),
                clip.sample,
                1,
                numbers[0],
                apex,
                numbers[-1],
                clip.n_frames,
                "Micro - 1/2",
                "R14 or 12",
                "",
                clip.raw_label.title(),
            ]
        )
        write_frames(frames / clip.subject / clip.sample, numbers, f"{clip.subject}_0", ".jpg", False, seed=1000 + i)
    _save(sheet, frames / SAMM_SHEET)
    return frames


def write_smic(root: Path, clips: list[Clip], cropped: bool = True) -> Path:
    """``SMIC/SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image046.bmp`` (or raw ``image046.bmp``)."""
    hs = root / "SMIC" / ("SMIC_all_cropped" if cropped else "SMIC_all_raw") / "HS"
    for i, clip in enumerate(clips):
        folder = hs / clip.subject / "micro" / clip.raw_label / clip.sample
        folder.mkdir(parents=True)
        rng = np.random.default_rng(2000 + i)
        base = rng.integers(40, 200, (16, 16, 3), dtype=np.uint8)
        for k in range(clip.n_frames):
            cv2.imwrite(str(folder / f"{'reg_' if cropped else ''}image{46 + k:03d}.bmp"), np.roll(base, k // 2, axis=0))
    return hs


def write_native_root(root: Path) -> Path:
    """All 442 composite clips (plus a few coded clips outside it) in their native folders under ``root``."""
    clips = composite_clips() + extra_clips()
    write_casme2(root, [c for c in clips if c.dataset == "casme2"])
    write_samm(root, [c for c in clips if c.dataset == "samm"])
    write_smic(root, [c for c in clips if c.dataset == "smic"])
    return root


def write_ststnet(folder: Path, loso: bool = False, loso_train_subjects: int = 2) -> Path:
    """The 442 STSTNet flow+strain PNGs, ``{subject}_{sample} .png``: flat, or LOSO-arranged with every
    sample in its subject's ``u_test`` and (to keep it small) in the ``u_train`` of a few subjects."""
    rows = composite_rows()
    rng = np.random.default_rng(7)
    subjects = list(dict.fromkeys(r.subject for r in rows))
    for row in rows:
        image = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
        image[..., 2] = 10  # blue (strain, the third channel in RGB order) is constant: channel order is testable
        targets = [folder] if not loso else [folder / row.subject / "u_test" / row.label]
        if loso:
            targets += [folder / s / "u_train" / row.label for s in subjects[:loso_train_subjects] if s != row.subject]
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target / feature_name(row.subject, row.sample)), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder
