"""The generic manifest adapter: any dataset described by a CSV of clips.

Columns: ``subject, sample, label, frames_dir`` (required) and ``dataset, onset, apex,
offset, fps, au`` (optional). ``frames_dir`` is relative to the manifest; onset/apex/offset
are frame numbers as written in the frame file names.
"""

from __future__ import annotations

import csv
from pathlib import Path

from merauto.data.frames import frame_number, ordered_frames
from merauto.data.sample_index import Sample, SampleIndex
from merauto.errors import MerautoError

REQUIRED_COLUMNS = ("subject", "sample", "label", "frames_dir")


def _optional_int(value: str | None) -> int | None:
    """A frame number cell: empty, '/', 'n/a' and other non-numbers mean unannotated."""
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _position(numbers: list[int], wanted: int | None, default: int, what: str, warnings: list[str]) -> int:
    """Position of frame number ``wanted`` in the clip, clipped to the frames present."""
    if wanted is None:
        return default
    if wanted in numbers:
        return numbers.index(wanted)
    nearest = min(range(len(numbers)), key=lambda i: abs(numbers[i] - wanted))
    warnings.append(f"{what} frame {wanted} not among frames {numbers[0]}..{numbers[-1]}; clipped to {numbers[nearest]}")
    return nearest


def load_manifest(path: Path, name: str | None = None, classes: tuple[str, ...] | None = None, default_fps: float = 30.0) -> SampleIndex:
    """Read a manifest CSV into a :class:`SampleIndex`; errors name the file, row and fix."""
    path = Path(path)
    if not path.is_file():
        raise MerautoError(f"manifest {path} does not exist", "pass the path of a CSV file with --manifest")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise MerautoError(
                f"manifest {path} lacks column(s) {', '.join(missing)} (found: {', '.join(header) or 'none'})",
                f"add a header row with at least {', '.join(REQUIRED_COLUMNS)}",
            )
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise MerautoError(f"manifest {path} lists no samples", "add one row per clip")
    samples = []
    for line, row in enumerate(rows, start=2):
        folder = path.parent / row["frames_dir"]
        frames = ordered_frames(folder) if folder.is_dir() else []
        if len(frames) < 2:
            raise MerautoError(
                f"{path}, line {line}: sample {row['sample']!r} has {len(frames)} frame(s) in {folder}",
                "point frames_dir at a folder holding the clip's numbered frames (at least two)",
            )
        numbers = [frame_number(f) for f in frames]
        warnings: list[str] = []
        onset = _position(numbers, _optional_int(row.get("onset")), 0, "onset", warnings)
        offset = _position(numbers, _optional_int(row.get("offset")), len(frames) - 1, "offset", warnings)
        if offset <= onset:
            raise MerautoError(
                f"{path}, line {line}: sample {row['sample']!r} has offset {numbers[offset]} not after onset {numbers[onset]}",
                "correct the onset/offset frame numbers",
            )
        apex_number = _optional_int(row.get("apex"))
        apex = None
        if apex_number is not None:
            apex = _position(numbers, apex_number, onset, "apex", warnings)
            if not onset <= apex <= offset:
                warnings.append(f"apex frame {apex_number} outside onset..offset; it will be estimated")
                apex = None
        dataset = row.get("dataset") or (name or path.stem)
        samples.append(
            Sample(
                id=f"{dataset}/{row['subject']}/{row['sample']}",
                dataset=dataset,
                subject=row["subject"],
                label=row["label"],
                raw_label=row["label"],
                frames=tuple(frames),
                onset=onset,
                apex=apex,
                offset=offset,
                fps=float(row.get("fps") or default_fps),
                action_units=row.get("au", ""),
                frame_numbers=tuple(numbers),
                warnings=tuple(warnings),
            )
        )
    found = tuple(sorted({s.label for s in samples}))
    if classes is not None and set(found) - set(classes):
        raise MerautoError(
            f"manifest {path} has labels {sorted(set(found) - set(classes))} outside the class list {list(classes)}",
            "relabel those rows or drop them from the manifest",
        )
    return SampleIndex(name or path.stem, classes or found, tuple(samples))
