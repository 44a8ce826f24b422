"""The generic manifest adapter: any dataset described by a CSV of clips.

Columns: ``subject, sample, label, frames_dir`` (required) and ``dataset, onset, apex,
offset, fps, au`` (optional). ``frames_dir`` is relative to the manifest; onset/apex/offset
are frame numbers as written in the frame file names.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import replace
from difflib import SequenceMatcher
from pathlib import Path

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding, LoadedDataset
from merauto.data.clips import ClipSpec, build_sample, frame_value
from merauto.data.sample_index import Sample, SampleIndex
from merauto.errors import MerautoError

REQUIRED_COLUMNS = ("subject", "sample", "label", "frames_dir")


def read_manifest(path: Path, name: str | None = None, classes: tuple[str, ...] | None = None, default_fps: float = 30.0) -> LoadedDataset:
    """Read a manifest CSV; a bad file raises, bad rows become findings naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise MerautoError(f"manifest {path} does not exist", "pass the path of a CSV file with --manifest")
    with path.open(newline="", encoding="utf-8-sig") as handle:
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
    samples, found, seen = [], [], {}
    for line, row in enumerate(rows, start=2):
        dataset = row.get("dataset") or (name or path.stem)
        spec = ClipSpec(
            id=f"{dataset}/{row['subject']}/{row['sample']}",
            source=dataset,
            subject=row["subject"],
            label=row["label"],
            raw_label=row["label"],
            folder=path.parent / row["frames_dir"],
            onset=frame_value(row.get("onset")),
            apex=frame_value(row.get("apex")),
            offset=frame_value(row.get("offset")),
            fps=default_fps,
            where=f"{path}, line {line}",
            action_units=row.get("au", ""),
        )
        if spec.id in seen:
            found.append(
                Finding(
                    dataset,
                    spec.id,
                    kinds.DUPLICATE_SAMPLE,
                    f"{spec.where}: sample {row['sample']!r} of subject {row['subject']!r} is listed twice (first on line {seen[spec.id]})",
                    "give each clip its own sample name, or drop the repeated row",
                    error=True,
                )
            )
            continue
        seen[spec.id] = line
        fps = _fps(row.get("fps"), default_fps)
        if fps is None:
            found.append(
                Finding(
                    dataset,
                    spec.id,
                    kinds.BAD_FPS,
                    f"{spec.where}: fps {row.get('fps')!r} is not a positive number of frames per second",
                    "write the clip's frame rate as a number (e.g. 200), or leave the cell empty for the default",
                    error=True,
                )
            )
            continue
        spec = replace(spec, fps=fps)
        if classes is not None and spec.label not in classes:
            found.append(
                Finding(
                    dataset,
                    spec.id,
                    kinds.BAD_LABEL,
                    f"{spec.where}: label {spec.label!r} is not among the classes {list(classes)}",
                    "relabel the row or drop it from the manifest",
                    error=True,
                )
            )
            continue
        sample, notes = build_sample(spec)
        found.extend(notes)
        if sample is not None:
            samples.append(sample)
    labels = classes or tuple(sorted({s.label for s in samples}))
    if classes is None:
        found += misspelt_labels(samples, path)
    found += lone_classes(samples, seen, path, declared=classes is not None)
    return LoadedDataset(SampleIndex(name or path.stem, labels, tuple(samples)), tuple(found), {name or path.stem: str(path)})


def _fps(text: str | None, default: float) -> float | None:
    """The fps of a cell (the default when empty), ``None`` when it is not a positive number."""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def misspelt_labels(samples: list[Sample], path: Path) -> list[Finding]:
    """An error for each rare label that looks like a misspelling of a common one (it would silently
    become a class of its own): the same letters in another case or spacing, or nearly the same word."""
    counts = Counter(s.label for s in samples)
    found = []
    for rare, n in sorted(counts.items()):
        for common, m in counts.most_common():
            if common == rare or m < max(2 * n, 3):
                continue
            if _normal(rare) == _normal(common) or SequenceMatcher(None, _normal(rare), _normal(common)).ratio() >= SIMILAR:
                found.append(
                    Finding(
                        samples[0].dataset,
                        "",
                        kinds.SIMILAR_LABEL,
                        f"{path}: label {rare!r} ({n} clip(s)) looks like a misspelling of {common!r} ({m} clips); "
                        "as written it would be a class of its own",
                        "correct the label in the manifest, or pass --classes with every class name if both are real classes",
                        error=True,
                    )
                )
                break
    return found


SIMILAR = 0.8  # difflib ratio from which two labels read as one word misspelt
MIN_CLASS_SUBJECTS = 2  # under leave-one-subject-out a class is learnt for a test subject only from the clips of another
SHOWN_LINES = 5


def lone_classes(samples: list[Sample], lines: dict[str, int], path: Path, declared: bool) -> list[Finding]:
    """A finding for each class whose clips all come from one subject: when that subject is tested,
    no training fold holds the class, so it is never predicted right and UF1 averages in a class
    scoring 0. An error for classes read from the labels (a stray label, e.g. one ``fear`` clip among
    three classes), a warning for classes declared with ``--classes`` (kept knowingly)."""
    subjects: dict[str, set[str]] = {}
    for sample in samples:
        subjects.setdefault(sample.label, set()).add(sample.subject)
    found = []
    for label, held in sorted(subjects.items()):
        if len(held) >= MIN_CLASS_SUBJECTS:
            continue
        rows = sorted(lines[s.id] for s in samples if s.label == label)
        where = ", ".join(map(str, rows[:SHOWN_LINES])) + (f" and {len(rows) - SHOWN_LINES} more" if len(rows) > SHOWN_LINES else "")
        found.append(
            Finding(
                samples[0].dataset,
                "",
                kinds.LONE_CLASS,
                f"{path}: class {label!r} has {len(rows)} clip(s), all of subject {next(iter(held))!r} (line {where}): under "
                "leave-one-subject-out no training fold holds it when they are tested, so it is never learnt and UF1 averages "
                "in a class scoring 0",
                "map those rows to another class or drop them from the manifest"
                + ("" if declared else " (or pass --classes with every class name to keep the class anyway)"),
                error=not declared,
            )
        )
    return found


def _normal(label: str) -> str:
    return "".join(ch for ch in label.casefold() if ch.isalnum())


def load_manifest(path: Path, name: str | None = None, classes: tuple[str, ...] | None = None, default_fps: float = 30.0) -> SampleIndex:
    """Read a manifest CSV into a :class:`SampleIndex`; errors name the file, row and fix."""
    return read_manifest(path, name, classes, default_fps).require()
