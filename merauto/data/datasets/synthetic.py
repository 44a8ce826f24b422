"""The built-in synthetic dataset: rendered micro-expression clips, generated into the cache on first use."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets.core import Dataset, DatasetRequest, Progress, register
from merauto.data.manifest import read_manifest
from merauto.data.sample_index import COMPOSITE_CLASSES
from merauto.data.synthetic.generator import ensure_generated


def read(request: DatasetRequest, cache_dir: Path, progress: Progress) -> LoadedDataset:
    """The generated clips of ``request.synthetic`` (generated now if the cache lacks them)."""
    return read_manifest(ensure_generated(request.synthetic, cache_dir, progress), request.label(), COMPOSITE_CLASSES)


SYNTHETIC = register(
    Dataset("synthetic", "built-in rendered micro-expression clips (no licence needed); --synthetic-size small|composite", read)
)
