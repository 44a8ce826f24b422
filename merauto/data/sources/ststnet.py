"""The STSTNet distribution of the composite: one precomputed flow+strain PNG per sample.

Each PNG is 28x28 RGB: horizontal flow, vertical flow and optical strain between onset and
apex, normalised to 0..255, named ``{subject}_{sample} .png`` (a space before ``.png``) with
the composite csv's ids. The LOSO-arranged copy (``{subject}/u_train/{label}/...``,
``{subject}/u_test/{label}/...``) holds the same images; each is read once, from ``u_test``.
"""

from __future__ import annotations

from pathlib import Path

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding, LoadedDataset
from merauto.data.sample_index import COMPOSITE_CLASSES, Sample, SampleIndex
from merauto.data.sources.composite import SCHEME, composite_rows
from merauto.errors import MerautoError

STREAM = "flow_strain"  # the stream kind these files hold ready-made
FPS = {"casme2": 200.0, "samm": 200.0, "smic": 100.0}
LOSO_FOLDERS = ("u_test", "u_train")


def feature_name(subject: str, sample: str) -> str:
    """The distribution's file name of a sample: ``006_006_1_2 .png``."""
    return f"{subject}_{sample} .png"


def _key(path: Path) -> str:
    """``'006_006_1_2 .png'`` and ``'006_006_1_2.png'`` -> ``'006_006_1_2'``."""
    return path.name[: -len(path.suffix)].rstrip()


def feature_files(folder: Path) -> dict[str, Path]:
    """PNG files under ``folder`` by ``{subject}_{sample}``; a ``u_test`` copy wins over others."""
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*"), key=lambda p: ("u_test" not in p.parts, str(p))):
        if path.suffix.lower() == ".png" and path.is_file():
            files.setdefault(_key(path), path)
    return files


def read_ststnet(folder: Path, index_name: str, sources: tuple[str, ...] | None = None) -> LoadedDataset:
    """The composite's 442 samples (those of ``sources`` when given) from precomputed PNGs; each
    missing file is an error naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MerautoError(f"--features {folder} is not a folder", "pass the folder holding the STSTNet flow+strain PNGs")
    files = feature_files(folder)
    if not files:
        raise MerautoError(
            f"--features {folder} holds no PNG files",
            "pass the folder of the STSTNet distribution (files like '006_006_1_2 .png', or its {subject}/u_test/... copy)",
        )
    every_row = composite_rows()
    rows = [r for r in every_row if sources is None or r.dataset in sources]
    samples, found = [], []
    for row in rows:
        path = files.get(f"{row.subject}_{row.sample}")
        if path is None:
            found.append(
                Finding(
                    row.dataset,
                    row.id,
                    kinds.MISSING_FILE,
                    f"{row.where}: no file {feature_name(row.subject, row.sample)!r} under {folder}",
                    "restore the file from the STSTNet distribution (names keep the space before .png)",
                    error=True,
                )
            )
            continue
        samples.append(
            Sample(
                id=row.id,
                dataset=row.dataset,
                subject=row.subject,
                label=row.label,
                frames=(),
                onset=0,
                apex=None,
                offset=0,
                fps=FPS[row.dataset],
                raw_label=row.label,
                precomputed={STREAM: path},
            )
        )
    extra = sorted(set(files) - {f"{r.subject}_{r.sample}" for r in every_row})
    if extra:
        found.append(
            Finding(
                "composite",
                "",
                kinds.EXTRA_FILE,
                f"{len(extra)} PNG file(s) under {folder} are not composite samples and are ignored, e.g. {files[extra[0]]}",
            )
        )
    loso = any(part in LOSO_FOLDERS for path in files.values() for part in path.relative_to(folder).parts)
    spaced = sum(p.name.endswith(" .png") for p in files.values())
    origin = (
        f"precomputed flow+strain from {folder} ({'LOSO-arranged, read from u_test' if loso else 'flat'}; "
        f"{spaced} of {len(files)} names with the space before .png)"
    )
    index = SampleIndex(index_name, COMPOSITE_CLASSES, tuple(samples), SCHEME.description)
    expected = {source: sum(r.dataset == source for r in rows) for source in FPS if sources is None or source in sources}
    return LoadedDataset(index, tuple(found), {"composite": origin}, expected)
