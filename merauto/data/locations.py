"""Where a user's copy of each licensed dataset lives: found under a data root by its
distributed folder and file names, or given in a data config file.

The data config is TOML; paths are relative to the file::

    root = "/data/mer"                      # optional, like --data-root

    [casme2]                                # one table per dataset whose layout differs
    frames = "CASME2/CASME2_RAW_selected"   # the folder holding sub01/EP02_01f/...
    coding = "CASME2/CASME2-coding-20140508.xlsx"

    [smic]
    frames = "SMIC/SMIC_all_cropped/HS"     # the folder holding s1/micro/negative/...
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merauto.errors import MerautoError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DATA_ROOT_ENV = "MERAUTO_DATA_ROOT"
SEARCH_DEPTH = 3  # how many folder levels below the data root are searched


@dataclass(frozen=True)
class NativeLayout:
    """How a dataset is distributed: its frame folder's names (preferred first), its coding
    sheet's file name patterns and the subject folders a frame folder holds."""

    title: str
    frames: tuple[str, ...]
    coding: tuple[str, ...]
    subjects: str  # regular expression of a subject folder's name
    example: str

    def holds_subjects(self, folder: Path) -> bool:
        try:
            return any(entry.is_dir() and re.fullmatch(self.subjects, entry.name) for entry in os.scandir(folder))
        except OSError:
            return False

    def config_table(self, source: str) -> str:
        """The data config table that gives this dataset's paths."""
        keys = ("frames", "coding") if self.coding else ("frames",)
        return f"[{source}] " + ", ".join(f'{k} = "..."' for k in keys)

    def describe(self) -> str:
        """What is looked for, in words."""
        sheet = f" and a coding sheet {' or '.join(self.coding)}" if self.coding else ""
        return f"{self.title}: a folder named {' or '.join(self.frames)} (e.g. {self.example}){sheet}"


NATIVE_LAYOUTS: dict[str, NativeLayout] = {
    "casme2": NativeLayout(
        "CASME II",
        ("Cropped", "CASME2_Cropped", "CASME2_RAW_selected", "CASME2_RAW", "CASME2-RAW"),
        ("CASME2-coding*.xlsx", "CASME2-coding*.csv"),
        r"sub\d+",
        "CASME2_RAW_selected/sub01/EP02_01f/img46.jpg",
    ),
    "samm": NativeLayout(
        "SAMM",
        ("SAMM", "SAMM_CROP", "SAMM_cropped"),
        ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv"),
        r"\d{3}",
        "SAMM/006/006_1_2/006_05562.jpg",
    ),
    "smic": NativeLayout("SMIC-HS", ("HS",), (), r"s\d+", "SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image046.bmp"),
    "casme": NativeLayout(
        "CASME",
        ("CASME_Cropped", "CASME_raw_selected", "CASME_raw", "Cropped"),
        ("CASME-coding*.xlsx", "CASME_coding*.xlsx", "CASME-coding*.csv", "CASME_coding*.csv"),
        r"sub\d+",
        "CASME_raw_selected/sub01/EP01_5/...",
    ),
    "casme2-lv": NativeLayout(
        "CAS(ME)^2 long videos",
        ("rawpic",),
        ("CAS(ME)^2code_final*.xlsx",),
        r"s\d+",
        "rawpic/s15/15_0101disgustingteeth/img1.jpg",
    ),
    "samm-lv": NativeLayout(
        "SAMM long videos",
        ("SAMM_longvideos", "SAMM_long_videos"),
        ("SAMM_LongVideos_V*_Release.xlsx", "SAMM_LongVideos_V*_Release.csv"),
        r"\d{3}_\d+",
        "SAMM_longvideos/006_1/006_1_0001.jpg",
    ),
}


@dataclass(frozen=True)
class SourceLocation:
    """A dataset's frame folder and coding sheet, and how they were found (for reports)."""

    frames: Path
    coding: Path | None
    origin: str


@dataclass(frozen=True)
class DataConfig:
    """A data config file: an optional root and per-dataset paths (already resolved)."""

    path: Path
    root: Path | None = None
    sources: dict[str, dict[str, Path]] = field(default_factory=dict)


def read_data_config(path: Path) -> DataConfig:
    """Parse and check a data config file; every error names the file and the key."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MerautoError(f"--data-config {path} does not exist", "pass the path of a TOML file (see `merauto datasets list`)")
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MerautoError(f"--data-config {path} is not valid TOML: {exc}", 'fix the syntax (key = "value", [dataset] tables)') from None

    def resolved(value: Any, key: str) -> Path:
        if not isinstance(value, str):
            raise MerautoError(f"{path}: {key} must be a path in quotes, not {value!r}", f'write {key} = "some/folder"')
        target = (path.parent / Path(value).expanduser()).resolve()
        if not target.exists():
            raise MerautoError(f"{path}: {key} = {value!r} does not exist ({target})", f"correct {key} in {path}")
        return target

    root = None
    sources: dict[str, dict[str, Path]] = {}
    for key, value in data.items():
        if key == "root":
            root = resolved(value, "root")
        elif key in NATIVE_LAYOUTS and isinstance(value, dict):
            needed = ("frames", "coding") if NATIVE_LAYOUTS[key].coding else ("frames",)
            unknown = sorted(set(value) - set(needed))
            if unknown:
                raise MerautoError(f"{path}: [{key}] has unknown key(s) {', '.join(unknown)}", f"use only {', '.join(needed)}")
            missing = [k for k in needed if k not in value]
            if missing:
                raise MerautoError(f"{path}: [{key}] lacks {', '.join(missing)}", f"write {NATIVE_LAYOUTS[key].config_table(key)}")
            sources[key] = {k: resolved(v, f"[{key}] {k}") for k, v in value.items()}
        else:
            raise MerautoError(
                f"{path}: unknown entry {key!r}",
                f'use root = "..." and tables named after datasets: {", ".join(f"[{name}]" for name in NATIVE_LAYOUTS)}',
            )
    return DataConfig(path, root, sources)


def data_root_from(option: Path | None) -> Path | None:
    """``--data-root`` if given, else ``$MERAUTO_DATA_ROOT``, else ``None``."""
    if option is not None:
        return option
    value = os.environ.get(DATA_ROOT_ENV)
    return Path(value).expanduser() if value else None


def _walk(root: Path, depth: int) -> Iterator[Path]:
    """``root`` and the entries up to ``depth`` levels below it; subject folders are not entered."""
    subject_folder = re.compile("|".join(f"(?:{layout.subjects})" for layout in NATIVE_LAYOUTS.values()))
    yield root
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                yield Path(entry.path)
                if entry.is_dir() and not subject_folder.fullmatch(entry.name):
                    below.append(Path(entry.path))
        level = below


def search_paths(root: Path) -> Iterator[Path]:
    """The paths :func:`find_source` looks at: ``root`` and the entries up to ``SEARCH_DEPTH`` levels below it."""
    return _walk(root, SEARCH_DEPTH)


def _distance(a: Path, b: Path) -> int:
    """Folder steps between two paths (how far a frame folder lies from a coding sheet)."""
    common = len(os.path.commonpath([a, b]).split(os.sep)) if a.anchor == b.anchor else 0
    return len(a.parts) + len(b.parts) - 2 * common


def _cropped(path: Path) -> bool:
    return any("crop" in part.lower() for part in path.parts)


def find_source(source: str, root: Path) -> SourceLocation | None:
    """The dataset ``source`` under ``root`` by its distributed names, or ``None`` when absent.

    Among several candidate frame folders, the one nearest the coding sheet wins, then a
    cropped one, then the earlier name of the layout.
    """
    layout = NATIVE_LAYOUTS[source]
    names = [n.lower() for n in layout.frames]
    sheets, folders = [], []
    for path in _walk(root, SEARCH_DEPTH):
        if any(fnmatch.fnmatch(path.name.lower(), p.lower()) for p in layout.coding) and path.is_file():
            sheets.append(path)
        elif path.name.lower() in names and layout.holds_subjects(path):
            folders.append(path)
    if not folders or (layout.coding and not sheets):
        return None
    sheet = min(sheets, key=lambda p: (len(p.parts), str(p))) if sheets else None
    anchor = sheet.parent if sheet else root

    def rank(folder: Path) -> tuple[int, bool, int, str]:
        return (_distance(folder, anchor), not _cropped(folder), names.index(folder.name.lower()), str(folder))

    frames = min(folders, key=rank)
    origin = f"frames {frames} ({'cropped' if _cropped(frames) else 'raw'})"
    if sheet:
        origin += f", coding sheet {sheet}"
    others = [str(f) for f in sorted(folders) if f != frames]
    if others:
        origin += f"; also found {', '.join(others)} (choose with --data-config)"
    return SourceLocation(frames, sheet, f"found under {root}: {origin}")


def locate(source: str, root: Path | None, config: DataConfig | None) -> SourceLocation:
    """The location of ``source``: from the config file if it names it, else found under the root."""
    layout = NATIVE_LAYOUTS[source]
    if config is not None and source in config.sources:
        paths = config.sources[source]
        return SourceLocation(paths["frames"], paths.get("coding"), f"from {config.path} [{source}]: frames {paths['frames']}")
    root = root or (config.root if config else None)
    if root is None and config is not None:
        raise MerautoError(
            f"{layout.title}: data config {config.path} has no [{source}] table and no root, and no --data-root is given",
            f'add {layout.config_table(source)} or root = "..." to {config.path}',
        )
    if root is None:
        raise no_data_error([source])
    found = find_source(source, root)
    if found is None:
        raise MerautoError(
            f"{layout.title} not found under data root {root}: looked up to {SEARCH_DEPTH} folder levels down for {layout.describe()}",
            f"put the dataset under {root} with its distributed names, or give its paths in a --data-config file "
            f"({layout.config_table(source)})",
        )
    return found


def no_data_error(sources: list[str]) -> MerautoError:
    """The message for a licensed dataset asked for with no data configured."""
    layouts = [NATIVE_LAYOUTS[s] for s in sources if s in NATIVE_LAYOUTS]  # a dataset of its own layout reads its own folders
    titles = ", ".join(NATIVE_LAYOUTS[s].title if s in NATIVE_LAYOUTS else s for s in sources)
    looked = f" Under a data root merauto looks for {'; '.join(layout.describe() for layout in layouts)}" if layouts else ""
    return MerautoError(
        f"this dataset needs the licensed {titles} data, which merauto never downloads, and none is configured "
        f"(no --data-root, no ${DATA_ROOT_ENV}, no --data-config).{looked}",
        f"obtain the datasets from their authors, then pass --data-root DIR, set {DATA_ROOT_ENV}=DIR, or give their paths "
        "in a --data-config FILE; `--dataset synthetic` runs without any licensed data",
    )
