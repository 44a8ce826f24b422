"""The dataset options of the command line (``--dataset``, ``--synthetic-size``, ...) as a
:class:`~merauto.data.datasets.DatasetRequest`, by the options' names with underscores for dashes:
what ``merauto search``, ``prepare`` and ``datasets check`` and ``merauto.search()`` read."""

from __future__ import annotations

from pathlib import Path

from merauto.data.cache import default_cache_dir
from merauto.data.datasets import DATASETS, DatasetRequest, check_sources
from merauto.data.locations import data_root_from
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.errors import MerautoError


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def dataset_request(
    dataset: str = "synthetic",
    manifest: str | Path | None = None,
    data_root: str | Path | None = None,
    data_config: str | Path | None = None,
    classes: str | None = None,
    features: str | Path | None = None,
    sources: str | tuple[str, ...] | None = None,
    synthetic_size: str = "small",
    synthetic_seed: int = 0,
    synthetic_amplitude: float = 1.0,
    synthetic_noise: float = 1.0,
    synthetic_jitter: float = 1.0,
    synthetic_identity: float = 1.0,
    synthetic_ambiguity: float = 1.0,
) -> DatasetRequest:
    """The dataset the options name (defaults: the command line's); a licensed dataset's data root
    falls back to ``$MERAUTO_DATA_ROOT``; ``sources`` is a comma-separated string or a tuple.

    >>> dataset_request(synthetic_size="tiny").label()
    'synthetic-tiny'
    >>> dataset_request(synthetic_noise=-1)
    Traceback (most recent call last):
    merauto.errors.MerautoError: synthetic dataset options: ...
    """
    try:
        spec = SyntheticSpec(
            size=synthetic_size,
            seed=synthetic_seed,
            amplitude=synthetic_amplitude,
            noise=synthetic_noise,
            jitter=synthetic_jitter,
            identity_variation=synthetic_identity,
            ambiguity=synthetic_ambiguity,
        )
    except ValueError as exc:
        raise MerautoError(f"synthetic dataset options: {exc}", "use non-negative multipliers") from None
    root = _path(data_root)
    return DatasetRequest(
        dataset,
        spec,
        _path(manifest),
        data_root=data_root_from(root) if dataset in DATASETS and DATASETS[dataset].licensed else root,
        data_config=_path(data_config),
        classes=classes,
        features=_path(features),
        sources=None if sources is None else check_sources(dataset, sources),
    )


def cache_dir_from(option: str | Path | None) -> Path:
    """``--cache-dir`` if given, else the default cache (``$MERAUTO_CACHE`` or ``~/.cache/merauto``)."""
    return default_cache_dir() if option is None else Path(option)
