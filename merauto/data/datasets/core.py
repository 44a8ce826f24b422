"""A dataset merauto loads (:class:`Dataset`), the registry each dataset's module adds itself to
(:data:`DATASETS`), and a request for one (:class:`DatasetRequest`), checked as it is made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merauto.data.checks.findings import LoadedDataset
from merauto.data.labels import ALL_LABELS, ClassScheme
from merauto.data.locations import NATIVE_LAYOUTS, DataConfig, NativeLayout, no_data_error, read_data_config
from merauto.data.sources.composite import SOURCES as COMPOSITE_SOURCES
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.errors import MerautoError

Progress = Callable[[int, int], None] | None
DEFAULT = "synthetic"  # the dataset of a search that names none: runs without licensed data


@dataclass(frozen=True)
class Dataset:
    """One dataset: its ``--dataset`` name and description, how it is read, and for a licensed one
    its class schemes (the first is the default) and the sources whose files it reads."""

    name: str
    description: str
    read: Callable[[DatasetRequest, Path, Progress], LoadedDataset]  # (request, cache folder, progress) -> what was read
    class_schemes: dict[str, ClassScheme] = field(default_factory=dict)  # empty: not a licensed dataset
    sources: tuple[str, ...] = ()  # licensed sources it reads (named when none is found)
    layout: NativeLayout | None = None  # where --data-root finds a licensed set of a layout of its own (the source of its name)

    @property
    def licensed(self) -> bool:
        """Read from a user's licensed copy (``--data-root``, ``--data-config``, ``--classes``)."""
        return bool(self.class_schemes)

    @property
    def default_scheme(self) -> str:
        """The class scheme used when ``--classes`` is not given."""
        return next(iter(self.class_schemes))


DATASETS: dict[str, Dataset] = {}  # filled by the package's modules, one per dataset; the default first


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to :data:`DATASETS` (the default dataset is listed first), and its folder layout
    to :data:`~merauto.data.locations.NATIVE_LAYOUTS` under its name."""
    if dataset.name in DATASETS:
        raise ValueError(f"dataset {dataset.name!r} is registered twice")
    if dataset.layout is not None:
        NATIVE_LAYOUTS[dataset.name] = dataset.layout
    ordered = sorted([*DATASETS.values(), dataset], key=lambda d: d.name != DEFAULT)  # stable: then in the order registered
    DATASETS.clear()
    DATASETS.update((d.name, d) for d in ordered)
    return dataset


def licensed_config(request: DatasetRequest) -> DataConfig | None:
    """A licensed dataset's ``--data-config`` read, refusing a request that says where no data is."""
    config = read_data_config(request.data_config) if request.data_config else None
    if request.data_root is None and config is None:
        raise no_data_error(list(request.sources or DATASETS[request.name].sources))
    return config


@dataclass(frozen=True)
class DatasetRequest:
    """A dataset by name plus the options that select its content (not where caches live).

    ``data_root``/``data_config`` say where licensed data lives; ``classes`` names a class
    scheme (default: the dataset's first); ``features`` reads the composite's precomputed
    flow+strain instead of frames; ``sources`` keeps a subset of the composite's source
    datasets (``None``: all of them), for per-dataset and cross-dataset comparisons.
    """

    name: str = DEFAULT
    synthetic: SyntheticSpec = field(default_factory=SyntheticSpec)
    manifest: Path | None = None
    data_root: Path | None = None
    data_config: Path | None = None
    classes: str | None = None
    features: Path | None = None
    sources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise MerautoError(
                f"--dataset {self.name!r} is not a dataset merauto knows",
                f"choose one of: {', '.join(DATASETS)} (synthetic runs without any licensed data)",
            )
        if self.name == "manifest" and self.manifest is None:
            raise MerautoError("--dataset manifest needs --manifest FILE", "pass the CSV that lists your clips")
        if self.manifest is not None and not Path(self.manifest).is_file():
            raise MerautoError(f"--manifest {self.manifest} does not exist", "pass the path of an existing CSV file")
        self._check_licensed_options()
        if self.sources is not None:
            object.__setattr__(self, "sources", check_sources(self.name, self.sources))

    @property
    def dataset(self) -> Dataset:
        """The registered dataset this request names."""
        return DATASETS[self.name]

    def _check_licensed_options(self) -> None:
        if self.name == "manifest" and self.classes is not None:
            manifest_classes(self.classes)
        if not self.dataset.licensed:
            classes = () if self.name == "manifest" else (("--classes", self.classes),)
            for option, value in (("--data-root", self.data_root), ("--data-config", self.data_config), *classes):
                if value is not None:
                    raise MerautoError(f"{option} applies to the licensed datasets, not --dataset {self.name}", f"drop {option}")
        if self.features is not None:
            if self.name != "composite":
                raise MerautoError(f"--features reads the MEGC2019 composite, not --dataset {self.name}", "use --dataset composite")
            if not Path(self.features).is_dir():
                raise MerautoError(f"--features {self.features} is not a folder", "pass the folder holding the STSTNet flow+strain PNGs")
            object.__setattr__(self, "data_root", None)  # precomputed inputs replace the frames
            object.__setattr__(self, "data_config", None)
        if self.data_root is not None and not Path(self.data_root).is_dir():
            raise MerautoError(
                f"--data-root {self.data_root} is not a folder", "pass the folder holding the datasets (or unset MERAUTO_DATA_ROOT)"
            )
        if self.data_config is not None and not Path(self.data_config).is_file():
            raise MerautoError(f"--data-config {self.data_config} does not exist", "pass the path of a TOML data config file")
        if self.dataset.licensed:
            schemes = self.dataset.class_schemes
            if self.classes is None:
                object.__setattr__(self, "classes", self.dataset.default_scheme)
            elif self.classes not in schemes:
                raise MerautoError(
                    f"--classes {self.classes!r} is not a class scheme of {self.name}",
                    "choose one of: " + "; ".join(f"{k} ({v.description})" for k, v in schemes.items()),
                )

    def label(self) -> str:
        """Short name for run directories and reports (``synthetic-small``, ``casme2-5class``, ``composite-features``)."""
        if self.name == "synthetic":
            return f"synthetic-{self.synthetic.size}"
        if self.name == "manifest":
            return f"manifest-{Path(self.manifest).stem}"
        if self.sources is not None:
            return f"{self.name}{'-features' if self.features is not None else ''}-{'+'.join(self.sources)}"
        if self.features is not None:
            return f"{self.name}-features"
        if len(self.dataset.class_schemes) <= 1:
            return self.name
        return f"{self.name}-all-labels" if self.classes == ALL_LABELS else f"{self.name}-{self.classes}class"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.name == "synthetic":
            data["synthetic"] = asdict(self.synthetic)
        for key in ("manifest", "data_root", "data_config", "features"):
            if getattr(self, key) is not None:
                data[key] = str(Path(getattr(self, key)).resolve())
        if self.classes is not None:
            data["classes"] = self.classes
        if self.sources is not None:
            data["sources"] = list(self.sources)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetRequest:
        def path(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        return cls(
            name=data["name"],
            synthetic=SyntheticSpec(**data.get("synthetic", {})),
            manifest=path("manifest"),
            data_root=path("data_root"),
            data_config=path("data_config"),
            classes=data.get("classes"),
            features=path("features"),
            sources=tuple(data["sources"]) if data.get("sources") else None,
        )


def check_sources(dataset: str, sources: tuple[str, ...] | str) -> tuple[str, ...]:
    """``--sources``: a non-empty subset of the composite's source datasets, in the composite's order.

    >>> check_sources("composite", "smic,casme2")
    ('casme2', 'smic')
    """
    if dataset != "composite":
        raise MerautoError(f"--sources selects source datasets of the composite, not of --dataset {dataset}", "drop --sources")
    names = [s.strip() for s in sources.split(",")] if isinstance(sources, str) else [s.strip() for s in sources]
    names = [s for s in names if s]
    unknown = [s for s in names if s not in COMPOSITE_SOURCES]
    if unknown or not names:
        what = f"{', '.join(map(repr, unknown))} {'is not a source dataset' if len(unknown) == 1 else 'are not source datasets'}"
        raise MerautoError(
            f"--sources {','.join(names) or repr(sources)}: {what if unknown else 'names no source dataset'} of the composite",
            f"choose any of {', '.join(COMPOSITE_SOURCES)}, comma-separated (e.g. --sources casme2,smic)",
        )
    return tuple(s for s in COMPOSITE_SOURCES if s in names)


def manifest_classes(text: str | None) -> tuple[str, ...] | None:
    """The classes ``--classes a,b,c`` declares for a manifest (``None``: its labels, checked for misspellings)."""
    if text is None:
        return None
    classes = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    if len(classes) < 2:
        raise MerautoError(
            f"--classes {text!r}: a manifest needs at least two classes",
            "pass them comma-separated, e.g. --classes negative,positive,surprise",
        )
    return classes
