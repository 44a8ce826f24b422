"""SMIC-HS: ``HS/{subject}/micro/{label}/{sample}/`` folders; the folder name is the label.

SMIC-HS annotates no apex, and each clip's folder spans onset to offset, so onset and offset
are the folder's first and last frames and the apex is estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.clips import ClipSpec, build_sample
from merauto.data.labels import ClassScheme
from merauto.data.locations import SourceLocation
from merauto.data.sample_index import SampleIndex

FPS = 100.0
MICRO = "micro"


@dataclass(frozen=True)
class SmicClip:
    """One clip folder: its subject (``s1``), sample (``s1_ne_01``) and label folder."""

    subject: str
    sample: str
    label: str
    folder: Path


def smic_clips(hs: Path) -> dict[tuple[str, str], SmicClip]:
    """Every clip folder under the ``HS`` folder, by (subject, sample)."""
    clips = {}
    for label_folder in sorted(hs.glob(f"*/{MICRO}/*")):
        if not label_folder.is_dir():
            continue
        subject = label_folder.parent.parent.name
        for folder in sorted(p for p in label_folder.iterdir() if p.is_dir()):
            clips[(subject, folder.name)] = SmicClip(subject, folder.name, label_folder.name.lower(), folder)
    return clips


def clip_spec(folder: Path, sample_id: str, subject: str, label: str, raw_label: str) -> ClipSpec:
    """A SMIC-HS clip: the whole folder, no apex annotation."""
    return ClipSpec(
        id=sample_id,
        source="smic",
        subject=subject,
        label=label,
        raw_label=raw_label,
        folder=folder,
        onset=None,
        apex=None,
        offset=None,
        fps=FPS,
        where=f"SMIC-HS clip {folder}",
    )


def read_smic(location: SourceLocation, scheme: ClassScheme, index_name: str) -> LoadedDataset:
    """SMIC-HS on its own: every micro-expression clip under ``HS``, labelled by its folder as ``scheme`` maps it."""
    samples, found = [], []
    for clip in smic_clips(location.frames).values():
        label = scheme.map(clip.label)
        if label is None:
            continue
        sample, notes = build_sample(clip_spec(clip.folder, f"smic/{clip.subject}/{clip.sample}", clip.subject, label, clip.label))
        found += notes
        if sample is not None:
            samples.append(sample)
    index = SampleIndex(index_name, scheme.classes(set()), tuple(samples), scheme.description)
    return LoadedDataset(index, tuple(found), {"smic": location.origin})
