"""Frame files: numeric ordering and reading with errors that name the file."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from merauto.errors import MerautoError

FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
_LAST_INTEGER = re.compile(r"(\d+)(?!.*\d)")


def frame_number(path: Path) -> int:
    """The last integer in a frame's file name (``img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562)."""
    match = _LAST_INTEGER.search(path.stem)
    if match is None:
        raise MerautoError(
            f"frame file {path} has no number in its name, so its place in the clip is unknown",
            "frame files must be numbered (img1.jpg, img2.jpg, ...); rename or remove this file",
        )
    return int(match.group(1))


def ordered_frames(directory: Path) -> list[Path]:
    """Image files of ``directory`` ordered by the integer in their names, never lexically."""
    if not directory.is_dir():
        raise MerautoError(f"frame folder {directory} does not exist", "check the dataset path")
    frames = [p for p in directory.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()]
    return sorted(frames, key=frame_number)


def read_grey(path: Path) -> np.ndarray:
    """A frame as a float32 grey image in 0..255."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise MerautoError(
            f"cannot read frame {path}: missing, empty or not an image",
            "replace the file from the original dataset, or remove the sample from the index",
        )
    return image.astype(np.float32)
