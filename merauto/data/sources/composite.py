"""The MEGC2019 composite: the 442 clips of the canonical csv, read from CASME II, SAMM and SMIC-HS.

The csv shipped in the package is the definition (ids, subjects, labels); a user's copies of
the three datasets supply the frames and the annotations. Nothing is re-derived from the
coding sheets: a csv row missing from a sheet or from the folders is an error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding, LoadedDataset
from merauto.data.clips import ClipSpec, build_sample
from merauto.data.labels import ClassScheme, identity
from merauto.data.locations import DataConfig, SourceLocation, locate
from merauto.data.sample_index import COMPOSITE_CLASSES, Sample, SampleIndex
from merauto.data.sources import coded, smic
from merauto.errors import MerautoError

CSV_NAME = "megc2019_composite.csv"
SOURCES = ("casme2", "samm", "smic")
NEGATIVE, POSITIVE, SURPRISE = COMPOSITE_CLASSES
SCHEME = ClassScheme("negative, positive, surprise (MEGC2019)", identity(*COMPOSITE_CLASSES))
# MEGC2019's mapping of each source's raw labels to the composite's three classes (their `--classes 3`)
MAPPINGS = {
    "casme2": ClassScheme(
        "the composite's mapping: happiness->positive; disgust, repression->negative; surprise",
        {"happiness": POSITIVE, "disgust": NEGATIVE, "repression": NEGATIVE, "surprise": SURPRISE},
    ),
    "samm": ClassScheme(
        "the composite's mapping: happiness->positive; anger, contempt, disgust, fear, sadness->negative; surprise",
        {"happiness": POSITIVE, **{label: NEGATIVE for label in ("anger", "contempt", "disgust", "fear", "sadness")}, "surprise": SURPRISE},
    ),
    "smic": ClassScheme("negative, positive, surprise (the folder names)", identity(*COMPOSITE_CLASSES)),
}


@dataclass(frozen=True)
class CompositeRow:
    """One row of the canonical csv and its line number."""

    line: int
    dataset: str
    subject: str
    sample: str
    label: str
    native_subject: str
    native_sample: str

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.sample}"

    @property
    def where(self) -> str:
        return f"{CSV_NAME}, line {self.line}"


def composite_rows() -> list[CompositeRow]:
    """The 442 rows of the canonical MEGC2019 composite csv shipped in the package."""
    text = resources.files("merauto.data").joinpath(f"resources/{CSV_NAME}").read_text()
    return [
        CompositeRow(line, r["dataset"], r["subject"], r["sample"], r["label"], r["native_subject"], r["native_sample"])
        for line, r in enumerate(csv.DictReader(text.splitlines()), start=2)
    ]


def _missing_row(row: CompositeRow, sheet: Path | None) -> Finding:
    return Finding(
        row.dataset,
        row.id,
        kinds.MISSING_ROW,
        f"{row.where}: {row.native_subject}/{row.native_sample} is not in coding sheet {sheet}",
        "use the coding sheet as the dataset distributes it",
        error=True,
    )


def _label_check(row: CompositeRow, raw_label: str) -> list[Finding]:
    """A warning when the native label does not map to the csv's label (the csv wins)."""
    mapped = MAPPINGS[row.dataset].map(raw_label)
    if mapped == row.label:
        return []
    return [
        Finding(
            row.dataset,
            row.id,
            kinds.LABEL_MISMATCH,
            f"{row.where}: labelled {row.label} in the composite, but the dataset says {raw_label!r}; the composite's label is used",
        )
    ]


def _specs(source: str, rows: list[CompositeRow], location: SourceLocation) -> tuple[list[ClipSpec], list[Finding]]:
    """Clip specs of one source's rows, and what was found on the way."""
    specs: list[ClipSpec] = []
    found: list[Finding] = []
    if source == "smic":
        clips = smic.smic_clips(location.frames)
        for row in rows:
            clip = clips.get((row.native_subject, row.native_sample))
            folder = clip.folder if clip else location.frames / row.native_subject / smic.MICRO / row.label / row.native_sample
            raw = clip.label if clip else row.label
            found += _label_check(row, raw)
            specs.append(smic.clip_spec(folder, row.id, row.subject, row.label, raw))
        return specs, found
    dataset = coded.CODED[source]
    assert location.coding is not None
    table = coded.coded_clips(dataset, location.coding)
    for row in rows:
        clip = table.get((row.native_subject, row.native_sample))
        if clip is None:
            found.append(_missing_row(row, location.coding))
            continue
        spec, notes = coded.clip_spec(dataset, location, clip, row.id, row.subject, row.label)
        specs.append(spec)
        found += notes + _label_check(row, spec.raw_label)
    return specs, found


def read_composite(root: Path | None, config: DataConfig | None, index_name: str, sources: tuple[str, ...] | None = None) -> LoadedDataset:
    """The composite from the user's CASME II, SAMM and SMIC-HS (those of ``sources`` when given);
    a source that cannot be found or read becomes one error finding, so the others are still checked."""
    kept = SOURCES if sources is None else tuple(s for s in SOURCES if s in sources)
    rows = [r for r in composite_rows() if r.dataset in kept]
    samples: list[Sample] = []
    found: list[Finding] = []
    origins: dict[str, str] = {}
    expected = {source: sum(r.dataset == source for r in rows) for source in kept}
    for source in kept:
        try:
            location = locate(source, root, config)
        except MerautoError as exc:
            found.append(Finding(source, "", kinds.NO_DATA, exc.problem, exc.fix or "", error=True))
            continue
        origins[source] = location.origin
        try:
            specs, notes = _specs(source, [r for r in rows if r.dataset == source], location)
        except MerautoError as exc:
            found.append(Finding(source, "", kinds.BAD_SHEET, exc.problem, exc.fix or "", error=True))
            continue
        found += notes
        for spec in specs:
            sample, more = build_sample(spec)
            found += more
            if sample is not None:
                samples.append(sample)
    index = SampleIndex(index_name, COMPOSITE_CLASSES, tuple(samples), SCHEME.description)
    return LoadedDataset(index, tuple(found), origins, expected)
