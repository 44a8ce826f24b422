"""report.html of a spotting run: one self-contained file (plotly.js inlined once) that opens offline.

It leads with the nested estimate (per test subject, the trial its fold chose on inner F1 alone),
then the selections' table per expression type, the nested estimate subject by subject, the
search's history, every trial, and the spot-then-recognise score when the run recorded one.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.graph_objects as go

from merauto.atomic import write_text_atomic
from merauto.evaluator.spotting_metrics import SpotCounts, subject_bootstrap_f1
from merauto.results.report.html import STYLE, html_table
from merauto.results.spotting.report import per_fold_choice, spot_estimates, spot_rows, subject_rows
from merauto.results.spotting.store import SpotTrial

STR_FILE = "spot_then_recognise.json"  # merauto.results.spotting.then_recognise.STR_FILE, read here without its libraries


def trial_rows(trials: list[SpotTrial]) -> list[dict[str, str]]:
    """Every finished trial by inner F1: its spotter and parameters (test scores are for people, never for choosing)."""
    rows = []
    for t in sorted(trials, key=lambda t: (-t.objective, t.number)):
        tested = sum(t.test_by_subject().values(), SpotCounts())
        rows.append(
            {
                "trial": str(t.number),
                "spotter": t.spotter,
                "inner F1": f"{t.objective:.3f}",
                "test F1 (all folds)": f"{tested.f1:.3f}",
                "parameters": ", ".join(f"{k}={v}" for k, v in sorted(t.spotter_params.items())),
            }
        )
    return rows


def history_figure(trials: list[SpotTrial]) -> go.Figure:
    """Inner F1 of each trial in the order they ran, one colour per spotter, with the best so far."""
    figure = go.Figure()
    ordered = sorted(trials, key=lambda t: t.number)
    for spotter in sorted({t.spotter for t in ordered}):
        mine = [t for t in ordered if t.spotter == spotter]
        figure.add_scatter(x=[t.number for t in mine], y=[t.objective for t in mine], mode="markers", name=spotter)
    best, running = [], float("-inf")
    for t in ordered:
        running = max(running, t.objective)
        best.append(running)
    figure.add_scatter(x=[t.number for t in ordered], y=best, mode="lines", name="best so far", line={"shape": "hv"})
    figure.update_layout(title="inner F1 by trial (what the search optimised)", xaxis_title="trial", yaxis_title="pooled inner F1")
    return figure


def subject_figure(trials: list[SpotTrial]) -> go.Figure:
    """The nested estimate's overall test F1 per test subject, with the trial each fold chose."""
    chosen = per_fold_choice(trials)
    subjects = list(chosen)
    scores = [chosen[s].test_by_subject()[s].f1 for s in subjects]
    figure = go.Figure(go.Bar(x=subjects, y=scores, text=[f"trial {chosen[s].number}" for s in subjects], textposition="outside"))
    figure.update_layout(title="nested estimate: test F1 of each test subject", xaxis_title="test subject", yaxis_title="F1 (IoU >= 0.5)")
    return figure


def _headline(trials: list[SpotTrial], n_resamples: int) -> str:
    nested = next((e for e in spot_estimates(trials) if e.name == "per-fold selection"), None)
    if nested is None:
        return "<div class='headline'><p>No trial has finished yet.</p></div>"
    overall = nested.pooled("overall")
    low, high = subject_bootstrap_f1(nested.by_subject["overall"], n_resamples)
    types = ", ".join(f"{kind} {nested.pooled(kind).f1:.3f}" for kind in ("micro", "macro"))
    return f"""<div class="headline"><div class="big">F1 {overall.f1:.3f} <span class="note">[{low:.3f}, {high:.3f}]</span></div>
<p>Nested leave-one-subject-out estimate of spotting (IoU &ge; 0.5, MEGC's matching), pooled over
{len(nested.by_subject["overall"])} test subjects: {html.escape(types)}. Each test subject's spotter and thresholds were chosen
without it, on inner scores only. {len(trials)} trials.</p></div>"""


def _str_section(run_dir: Path) -> str:
    path = run_dir / STR_FILE
    if not path.is_file():
        return ""
    score = json.loads(path.read_text())
    rows = [{"stage": name, "value": f"{score[key]:.3f}"} for name, key in (("SF1 (micro)", "sf1"), ("AF1", "af1"), ("STRS", "strs"))]
    return f"<h2>Spot, then recognise ({html.escape(', '.join(score.get('classes', [])))})</h2>{html_table(rows)}"


def write_spot_html(trials: list[SpotTrial], run_dir: Path, path: Path | None = None, n_resamples: int = 1000) -> Path:
    """Write the spotting run's report (default ``RUN/report.html``) atomically and return its path."""
    path = Path(path) if path is not None else Path(run_dir) / "report.html"
    figures = [history_figure(trials), subject_figure(trials)] if trials else []
    plots = "".join(f.to_html(full_html=False, include_plotlyjs=k == 0) for k, f in enumerate(figures))
    title = f"merauto spotting report: {html.escape(Path(run_dir).name)}"
    document = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}</style>
</head><body><h1>{title}</h1>
{_headline(trials, n_resamples)}
<h2>Selections, per expression type</h2>
<p class="note">The global selection is the trial with the best pooled inner F1, scored on every fold: it is chosen with
every subject's inner scores and is optimistic. The per-fold selection is the nested estimate.</p>
{html_table(spot_rows(spot_estimates(trials), n_resamples))}
<h2>Nested estimate, subject by subject</h2>
{html_table(subject_rows(trials) if trials else [])}
{_str_section(Path(run_dir))}
{plots}
<h2>Every trial</h2>
{html_table(trial_rows(trials))}
</body></html>"""
    return write_text_atomic(path, document, "the spotting report")
