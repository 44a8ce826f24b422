"""A whole ``merauto spot`` run once its videos are read: the spotting search, its report on the
terminal and in ``report.html``, the spot-then-recognise score, and the spotter export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from merauto.data.long_videos.folders import LongVideo
from merauto.orchestrator.spot_search import search_spots
from merauto.results.spotting.report import print_spot_report
from merauto.results.spotting.report_html import write_spot_html
from merauto.results.spotting.store import SpotTrial


@dataclass(frozen=True)
class SpotRequest:
    """What one spotting run does: where, the study and its budget, and what it writes besides its trials."""

    run_dir: Path
    study: str
    budget: int
    seed: int
    storage_url: str | None
    spotters: list[str]
    device: str
    cache_dir: Path | None
    resamples: int = 1000
    recognise: Path | None = None  # a recognition export to label the spotted micro-expressions with
    export: bool = False
    preprocessing: dict[str, int] | None = None  # how a licensed set's frames were cut and subsampled, for the export


def run_spot(videos: list[LongVideo], request: SpotRequest, console: Console) -> list[SpotTrial]:
    """Search, report and export as ``request`` says; the caller holds the run directory's lock. Returns the finished trials."""
    r = request
    trials = search_spots(videos, r.run_dir, r.study, r.budget, r.seed, r.storage_url, console, r.spotters, r.device, None, r.cache_dir)
    print_spot_report(trials, Console(), r.resamples)
    if r.recognise is not None and trials:
        from merauto.results.spotting.then_recognise import STR_FILE, print_str, spot_then_recognise, write_str

        with console.status("recognising the micro-expressions each fold's selected spotter found"):
            score = spot_then_recognise(trials, videos, r.recognise, r.cache_dir)
        print_str(score, Console(), r.resamples)
        console.print(f"wrote {write_str(score, r.run_dir / STR_FILE)}")
    console.print(f"wrote {write_spot_html(trials, r.run_dir, n_resamples=r.resamples)}")
    if r.export and trials:
        from merauto.results.spotting.export import export_spotter

        console.print(f"spotter exported to {export_spotter(trials, videos, r.run_dir / 'export' / 'spotter', r.preprocessing, r.device)}")
    return trials
