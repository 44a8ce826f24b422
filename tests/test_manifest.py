"""The generic manifest adapter: numeric frame order, frame numbers to positions, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from merauto.data.manifest import load_manifest
from merauto.errors import MerautoError


def _clip(folder: Path, numbers: list[int]) -> None:
    folder.mkdir(parents=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((8, 8), n % 255, np.uint8))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_frames_are_ordered_numerically_and_annotations_become_positions(tmp_path: Path) -> None:
    _clip(tmp_path / "a", [98, 99, 100, 101, 102])
    manifest = _write(tmp_path / "m.csv", "subject,sample,label,frames_dir,onset,apex,offset,fps\nsub1,a,positive,a,99,101,102,200\n")
    (sample,) = load_manifest(manifest, classes=("positive",)).samples  # declared: a class of one subject is kept
    assert [p.name for p in sample.frames] == ["img98.jpg", "img99.jpg", "img100.jpg", "img101.jpg", "img102.jpg"]
    assert (sample.onset, sample.apex, sample.offset, sample.fps) == (1, 3, 4, 200.0)


def test_missing_apex_and_out_of_range_frames(tmp_path: Path) -> None:
    _clip(tmp_path / "a", [1, 2, 3, 4])
    manifest = _write(tmp_path / "m.csv", "subject,sample,label,frames_dir,onset,apex,offset\ns,a,negative,a,1,/,9\n")
    (sample,) = load_manifest(manifest, classes=("negative",)).samples
    assert sample.apex is None and sample.offset == 3
    assert any("offset frame 9" in w for w in sample.warnings)


def test_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    bad_header = _write(tmp_path / "h.csv", "subject,clip,label,frames_dir\ns,a,negative,a\n")
    with pytest.raises(MerautoError, match="lacks column") as error:
        load_manifest(bad_header)
    assert str(bad_header) in str(error.value) and "fix" in str(error.value)
    missing = _write(tmp_path / "f.csv", "subject,sample,label,frames_dir\ns,a,negative,nowhere\n")
    with pytest.raises(MerautoError, match="line 2"):
        load_manifest(missing)
