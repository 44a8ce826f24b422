"""Which datasets merauto can load, and how a request for one is described and resolved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merauto.data.checks.findings import LoadedDataset
from merauto.data.checks.sufficiency import sufficiency_findings
from merauto.data.checks.validation import check_files
from merauto.data.labels import ALL_LABELS, CLASS_SCHEMES, default_scheme
from merauto.data.locations import locate, no_data_error, read_data_config
from merauto.data.manifest import read_manifest
from merauto.data.sample_index import COMPOSITE_CLASSES, SampleIndex
from merauto.data.sources.coded import CODED, read_coded
from merauto.data.sources.composite import SOURCES as COMPOSITE_SOURCES
from merauto.data.sources.composite import read_composite
from merauto.data.sources.smic import read_smic
from merauto.data.sources.ststnet import read_ststnet
from merauto.data.synthetic.generator import SyntheticSpec, ensure_generated
from merauto.errors import MerautoError

DATASETS: dict[str, str] = {
    "synthetic": "built-in rendered micro-expression clips (no licence needed); --synthetic-size small|composite",
    "composite": "MEGC2019 composite of SMIC-HS, CASME II and SAMM: 442 clips, 68 subjects, 3 classes "
    "(licensed data: --data-root, or --features DIR for STSTNet's precomputed flow)",
    "casme2": "CASME II (licensed; --data-root); --classes 5, 3 or all",
    "samm": "SAMM (licensed; --data-root); --classes 5, 3 or all",
    "smic": "SMIC-HS (licensed; --data-root); 3 classes, apex estimated",
    "casme": "CASME (licensed; --data-root); --classes all",
    "manifest": "any dataset described by a CSV manifest (--manifest FILE): subject, sample, label, frames_dir, ...",
}
LICENSED = tuple(CLASS_SCHEMES)  # datasets read from a user's licensed copy
NEEDS = {"composite": list(COMPOSITE_SOURCES), "casme2": ["casme2"], "samm": ["samm"], "smic": ["smic"], "casme": ["casme"]}


@dataclass(frozen=True)
class DatasetRequest:
    """A dataset by name plus the options that select its content (not where caches live).

    ``data_root``/``data_config`` say where licensed data lives; ``classes`` names a class
    scheme (default: the dataset's first); ``features`` reads the composite's precomputed
    flow+strain instead of frames; ``sources`` keeps a subset of the composite's source
    datasets (``None``: all of them), for per-dataset and cross-dataset comparisons.
    """

    name: str = "synthetic"
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

    def _check_licensed_options(self) -> None:
        if self.name == "manifest" and self.classes is not None:
            manifest_classes(self.classes)
        if self.name not in LICENSED:
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
        if self.name in LICENSED:
            schemes = CLASS_SCHEMES[self.name]
            if self.classes is None:
                object.__setattr__(self, "classes", default_scheme(self.name))
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
        if len(CLASS_SCHEMES[self.name]) == 1:
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


def load_dataset(request: DatasetRequest, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> LoadedDataset:
    """Read ``request``'s annotations and folders; the synthetic dataset is generated into ``cache_dir`` on first use.

    Files are listed, not decoded (see :func:`validate_dataset`). A dataset that cannot be
    found raises a :class:`MerautoError`; problems with single samples become findings.
    """
    loaded = _read(request, cache_dir, progress)
    return loaded.with_findings(sufficiency_findings(loaded.index))


def _read(request: DatasetRequest, cache_dir: Path, progress: Callable[[int, int], None] | None) -> LoadedDataset:
    name = request.label()
    if request.name == "synthetic":
        return read_manifest(ensure_generated(request.synthetic, cache_dir, progress), name, COMPOSITE_CLASSES)
    if request.name == "manifest":
        assert request.manifest is not None
        return read_manifest(Path(request.manifest), name, manifest_classes(request.classes))
    if request.features is not None:
        return read_ststnet(Path(request.features), name, request.sources)
    config = read_data_config(request.data_config) if request.data_config else None
    if request.data_root is None and config is None:
        raise no_data_error(list(request.sources or NEEDS[request.name]))
    assert request.classes is not None
    if request.name == "composite":
        return read_composite(request.data_root, config, name, request.sources)
    location = locate(request.name, request.data_root, config)
    if request.name == "smic":
        return read_smic(location, name)
    assert request.name in CODED
    return read_coded(request.name, location, request.classes, name)


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


def validate_dataset(request: DatasetRequest, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> LoadedDataset:
    """:func:`load_dataset` plus decoding every file once: what `merauto datasets check` and `merauto search` run."""
    loaded = load_dataset(request, cache_dir)
    return loaded.with_findings(check_files(loaded.index, progress))


def load_index(request: DatasetRequest, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> SampleIndex:
    """The sample index of ``request``, refusing one with problems that would break a search."""
    return load_dataset(request, cache_dir, progress).require()
