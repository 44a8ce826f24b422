"""Which datasets merauto can load, and how a request for one is described and resolved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merauto.data.manifest import load_manifest
from merauto.data.sample_index import COMPOSITE_CLASSES, SampleIndex
from merauto.data.synthetic.generator import SyntheticSpec, ensure_generated
from merauto.errors import MerautoError

DATASETS: dict[str, str] = {
    "synthetic": "built-in rendered micro-expression clips (no licence needed); --synthetic-size small|composite",
    "manifest": "any dataset described by a CSV manifest (--manifest FILE): subject, sample, label, frames_dir, ...",
}


@dataclass(frozen=True)
class DatasetRequest:
    """A dataset by name plus the options that select its content (not where caches live)."""

    name: str = "synthetic"
    synthetic: SyntheticSpec = field(default_factory=SyntheticSpec)
    manifest: Path | None = None

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

    def label(self) -> str:
        """Short name for run directories and reports (``synthetic-small``, ``manifest-mydata``)."""
        if self.name == "synthetic":
            return f"synthetic-{self.synthetic.size}"
        return f"manifest-{Path(self.manifest).stem}" if self.manifest else self.name

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.name == "synthetic":
            data["synthetic"] = asdict(self.synthetic)
        if self.manifest is not None:
            data["manifest"] = str(Path(self.manifest).resolve())
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetRequest:
        return cls(
            name=data["name"],
            synthetic=SyntheticSpec(**data.get("synthetic", {})),
            manifest=Path(data["manifest"]) if data.get("manifest") else None,
        )


def load_index(request: DatasetRequest, cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> SampleIndex:
    """The sample index of ``request``; the synthetic dataset is generated into ``cache_dir`` on first use."""
    if request.name == "synthetic":
        manifest = ensure_generated(request.synthetic, cache_dir, progress)
        return load_manifest(manifest, request.label(), COMPOSITE_CLASSES)
    assert request.manifest is not None
    return load_manifest(Path(request.manifest), request.label())
