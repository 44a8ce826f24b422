"""The ``report.html`` that `merauto report` (and ``Run.report()``) writes: the report with the
explanation maps of the selected pipeline."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from merauto.results.report.explain import explanation_section
from merauto.results.report.html import write_html
from merauto.results.report.summary import Report


def write_report(report: Report, cache_dir: Path, console: Console, html: Path | None = None, explain: bool = False) -> Path:
    """Write ``report`` to ``html`` (default ``RUN_DIR/report.html``) with its explanation section
    (``explain``: export the selected pipeline first when ``RUN_DIR/export`` has none); returns the path."""
    explanations = explanation_section(report.run_dir, cache_dir, console, export=explain)
    return write_html(report, html or report.run_dir / "report.html", [explanations])
