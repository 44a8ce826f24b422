"""What `merauto search` and ``merauto.search()`` run once their request passed the preflight checks:
the search, the confirmation it asks for, then the run's report and its ``report.html``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from merauto.orchestrator.preflight import CheckedSearch
from merauto.orchestrator.request import SearchRequest
from merauto.orchestrator.search import SearchSummary, run_search
from merauto.results.confirm import confirm_run
from merauto.results.report.html import write_html
from merauto.results.report.summary import Report, build_report


@dataclass(frozen=True)
class FinishedSearch:
    """How the search ended, the run's report and where its ``report.html`` was written."""

    summary: SearchSummary
    report: Report
    html: Path


def search_and_report(request: SearchRequest, checked: CheckedSearch, console: Console) -> FinishedSearch:
    """Run (or resume) the search of ``checked`` (what :func:`~merauto.orchestrator.preflight.preflight`
    returned for ``request.options``), confirm its best trials when asked and the search reached its
    budget, then build the report and write ``RUN_DIR/report.html``."""
    options = checked.options
    summary = run_search(options, console, checked)
    if request.confirm and not summary.stopped_early:
        confirm_run(options.run_dir, request.confirm, request.confirm_seeds, options.cache_dir, options.device, console)
    report = build_report(options.run_dir)
    return FinishedSearch(summary, report, write_html(report, options.run_dir / "report.html"))
