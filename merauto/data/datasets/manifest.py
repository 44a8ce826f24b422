"""Any dataset described by a CSV of clips (``--manifest FILE``), with the classes ``--classes`` declares."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, manifest_classes, register
from merauto.data.manifest import read_manifest


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """The clips the manifest lists."""
    assert request.manifest is not None
    return read_manifest(Path(request.manifest), request.label(), manifest_classes(request.classes))


MANIFEST = register(
    Dataset("manifest", "any dataset described by a CSV manifest (--manifest FILE): subject, sample, label, frames_dir, ...", read)
)
