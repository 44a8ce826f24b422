"""Loading a requested dataset: its annotations and folders read (files listed, not decoded), every
file decoded once (:func:`validate_dataset`), or its sample index refused when it would break a search."""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks.findings import LoadedDataset
from merauto.data.checks.sufficiency import sufficiency_findings
from merauto.data.checks.validation import check_files
from merauto.data.datasets.core import DatasetRequest, Progress
from merauto.data.sample_index import SampleIndex


def load_dataset(request: DatasetRequest, cache_dir: Path, progress: Progress = None) -> LoadedDataset:
    """Read ``request``'s annotations and folders; the synthetic dataset is generated into ``cache_dir`` on first use.

    Files are listed, not decoded (see :func:`validate_dataset`). A dataset that cannot be
    found raises a :class:`MerautoError`; problems with single samples become findings.
    """
    loaded = request.dataset.read(request, cache_dir, progress)
    return loaded.with_findings(sufficiency_findings(loaded.index))


def validate_dataset(request: DatasetRequest, cache_dir: Path, progress: Progress = None) -> LoadedDataset:
    """:func:`load_dataset` plus decoding every file once: what `merauto datasets check` and `merauto search` run."""
    loaded = load_dataset(request, cache_dir)
    return loaded.with_findings(check_files(loaded.index, progress))


def load_index(request: DatasetRequest, cache_dir: Path, progress: Progress = None) -> SampleIndex:
    """The sample index of ``request``, refusing one with problems that would break a search."""
    return load_dataset(request, cache_dir, progress).require()
