"""`merauto report`'s HTML in a real headless Chromium: every plotly figure draws and no JavaScript fails."""

from __future__ import annotations

import os
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import pytest
from browser import check_plotly_page, find_chromium, headless_chromium
from commands import merauto

ARTEFACTS = Path(os.environ.get("MERAUTO_TEST_ARTEFACTS") or Path(__file__).resolve().parents[1] / "test-artefacts")


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium installed: apt-get install chromium (the CI script installs it)")
    return executable


@pytest.fixture(scope="module")
def report_html(chromium: str, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """report.html of an audited 2-trial search (a preset first) on the tiny synthetic dataset, written by
    `merauto report --explain`, so every section draws: the audit, the paired preset comparison, explanation maps."""
    root = tmp_path_factory.mktemp("report-browser")
    run_dir, cache = root / "run", cache_dir
    search = ["--synthetic-size", "tiny", "--max-epochs", "5", "--budget", "2", "--max-concurrent", "1", "--seed-presets", "--audit"]
    search += ["--run-dir", str(run_dir)]
    merauto("search", *search, cache=cache)
    (run_dir / "report.html").unlink(missing_ok=True)  # the page under test is the one `merauto report` writes
    merauto("report", str(run_dir), "--explain", cache=cache)
    return run_dir / "report.html"


@pytest.mark.slow
def test_report_figures_draw_without_javascript_errors(chromium: str, report_html: Path) -> None:
    screenshot = ARTEFACTS / "report.png"
    with headless_chromium(chromium) as devtools:
        check = check_plotly_page(devtools, report_html, screenshot)
    assert not check.errors, "JavaScript errors in report.html:\n" + "\n".join(check.errors)
    assert check.plots, "report.html has no plotly figure"
    undrawn = [p.title or p.id for p in check.plots if not p.drew]
    assert not undrawn, f"figures that drew nothing: {undrawn} (screenshot: {screenshot})"
    titles = " | ".join(p.title or "" for p in check.plots)
    for section in ("inflation of each protocol", "per test subject", "where each class", "which slots mattered", "optimisation history"):
        assert section in titles, f"no {section!r} figure among {titles}"
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_checker_sees_a_failing_script_and_empty_figures(chromium: str, tmp_path: Path) -> None:
    good = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": {"text": "good figure"}})
    empty = go.Figure(go.Scatter(x=[], y=[]), layout={"title": {"text": "no data"}})
    page = tmp_path / "page.html"
    page.write_text(f"""<!doctype html><html><head><meta charset="utf-8">
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>
{good.to_html(full_html=False, include_plotlyjs=False, div_id="good")}
<div id="broken" class="plotly-graph-div" style="height:450px; width:100%;"></div>
<script>throw new Error("figure data failed to load"); Plotly.newPlot("broken", [{{y: [1, 2]}}]);</script>
{empty.to_html(full_html=False, include_plotlyjs=False, div_id="empty")}
</body></html>""")
    with headless_chromium(chromium) as devtools:
        check = check_plotly_page(devtools, page, tmp_path / "page.png", timeout=5)
    assert any("figure data failed to load" in e for e in check.errors), check.errors
    assert {p.id: (p.title, p.drew) for p in check.plots} == {
        "good": ("good figure", True),
        "broken": ("", False),
        "empty": ("no data", False),
    }
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")
