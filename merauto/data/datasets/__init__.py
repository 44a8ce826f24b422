"""Which datasets merauto can load: one module per dataset, each registering a :class:`Dataset` (its
``--dataset`` name, description, reader, and for a licensed one its class schemes and sources) in
:data:`DATASETS`; a request for one (:class:`DatasetRequest`) and its loading. A new dataset is a
new module here, imported below."""

from __future__ import annotations

from merauto.data.datasets import casme, casme2, composite, manifest, samm, smic, synthetic  # noqa: F401 - each registers itself
from merauto.data.datasets.core import DATASETS, Dataset, DatasetRequest, check_sources, manifest_classes, register
from merauto.data.datasets.loading import load_dataset, load_index, validate_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetRequest",
    "check_sources",
    "load_dataset",
    "load_index",
    "manifest_classes",
    "register",
    "validate_dataset",
]
