"""Every file a sample points to is read and decoded once, before any search starts."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding
from merauto.data.sample_index import SampleIndex


def decode(path: Path) -> tuple[str | None, tuple[int, ...] | None]:
    """Why ``path`` is not a usable image (unreadable, empty, corrupt or truncated), else ``None``,
    and the shape it decodes to at 1/8 scale.

    Images are decoded at 1/8 scale: enough to prove the data decodes and to compare frame
    sizes, several times faster. ``cv2.imdecode`` rejects a truncated JPEG (``cv2.imread``
    would grey its missing part).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})", None
    if not data:
        return "is empty", None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if image is None:
        return "is not a decodable image (corrupt or truncated)", None
    return None, image.shape


def frame_size(path: Path) -> str:
    """``WIDTHxHEIGHT`` of an image file, decoded at full size."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return "unreadable" if image is None else f"{image.shape[1]}x{image.shape[0]}"


def check_files(index: SampleIndex, progress: Callable[[int, int], None] | None = None) -> list[Finding]:
    """An error finding for each sample with a frame or precomputed file that cannot be decoded,
    and for each clip whose frames differ in size (flow and registration compare frames pixel by pixel)."""
    paths = [(s, p) for s in index for p in (*s.frames, *s.precomputed.values())]
    bad: dict[str, list[tuple[Path, str]]] = {}
    shapes: dict[str, dict[tuple[int, ...], Path]] = {}
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # reasons are reported below, per file
    try:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for done, ((sample, path), (reason, shape)) in enumerate(zip(paths, pool.map(decode, (p for _, p in paths)), strict=True), 1):
                if reason is not None:
                    bad.setdefault(sample.id, []).append((path, reason))
                elif path in sample.frames:
                    shapes.setdefault(sample.id, {}).setdefault(shape, path)
                if progress is not None:
                    progress(done, len(paths))
    finally:
        cv2.utils.logging.setLogLevel(level)
    findings = []
    for sample in index:
        if sample.id in bad:
            (path, reason), count = bad[sample.id][0], len(bad[sample.id])
            total = len(sample.frames) or len(sample.precomputed)
            findings.append(
                Finding(
                    sample.dataset,
                    sample.id,
                    kinds.UNREADABLE_FRAME,
                    f"{path} {reason}" + (f" ({count} of {total} files of the sample are unreadable)" if count > 1 else ""),
                    "replace the file(s) from the original dataset",
                    error=True,
                )
            )
        elif len(shapes.get(sample.id, {})) > 1:
            first, other = list(shapes[sample.id].values())[:2]
            findings.append(
                Finding(
                    sample.dataset,
                    sample.id,
                    kinds.FRAME_SIZES,
                    f"frames of one clip differ in size: {first} is {frame_size(first)}, {other} is {frame_size(other)}",
                    "keep frames of one size in the clip's folder (e.g. do not mix raw and cropped frames)",
                    error=True,
                )
            )
    return findings
