"""`merauto datasets check --dataset casme2-lv|samm-lv`: per-source counts of a long-video set and
every problem found, grouped by kind, each with its file (and row) and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from merauto.data.checks.dataset_check import print_findings
from merauto.data.checks.findings import Finding
from merauto.data.locations import DataConfig
from merauto.data.long_videos.folders import LongVideo
from merauto.data.long_videos.frames import Progress, read_long_videos
from merauto.data.long_videos.sets import read_catalogue
from merauto.data.sources.long_video_catalogue import LongVideoCatalogue


@dataclass(frozen=True)
class LongVideoCheck:
    """A long-video set as checked: its catalogue, the videos read from it and every finding."""

    catalogue: LongVideoCatalogue
    videos: tuple[LongVideo, ...]
    findings: tuple[Finding, ...]
    frame_size: int
    step: int

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]


def check_long_video_set(
    source: str, root: Path | None, config: DataConfig | None, frame_size: int, step: int, cache_dir: Path, progress: Progress | None = None
) -> LongVideoCheck:
    """Read every sheet row and every kept frame of the set ``source``, collecting every problem instead of stopping at the first."""
    catalogue = read_catalogue(source, root, config)
    videos, findings = read_long_videos(catalogue, frame_size, step, cache_dir, progress, keep_going=True)
    return LongVideoCheck(catalogue, tuple(videos), catalogue.findings + tuple(findings), frame_size, step)


def print_long_video_check(check: LongVideoCheck, console: Console) -> None:
    """Print where the set came from, its counts (subjects, videos, frames, micro and macro intervals) and the findings."""
    catalogue = check.catalogue
    console.print(
        f"[bold]{catalogue.title}[/] ({catalogue.source}): {sum(len(v.frames) for v in check.videos)} frames kept, read at "
        f"{catalogue.fps:g} fps / step {check.step} = {catalogue.fps / check.step:.1f} fps, faces cropped to "
        f"{check.frame_size}x{check.frame_size} grey (cached for merauto spot)",
        highlight=False,
    )
    console.print(f"  {escape(catalogue.origin)}", highlight=False)
    intervals = [i for intervals in catalogue.truth.values() for i in intervals]
    table = Table(box=None, header_style="bold")
    for column in ("source", "subjects", "videos", "coded", "frames", "micro", "macro", "errors", "warned"):
        table.add_column(column, justify="left" if column == "source" else "right", no_wrap=True)
    warned = len({f.sample for f in check.findings if not f.error})
    table.add_row(
        catalogue.source,
        str(len({v.subject for v in catalogue.videos})),
        str(len(catalogue.videos)),
        str(len(catalogue.truth)),
        str(sum(len(v.frames) for v in catalogue.videos)),
        str(sum(i.kind == "micro" for i in intervals)),
        str(sum(i.kind == "macro" for i in intervals)),
        str(len(check.errors)),
        str(warned),
    )
    console.print(table)
    print_findings(console, [f for f in check.findings if not f.error], [f for f in check.findings if f.error], "merauto spot", "set")
