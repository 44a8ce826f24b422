"""report.html: one self-contained file (plotly.js inlined once) that opens offline.

It leads with the headline a reader wants (the nested estimate, the selected pipeline in words,
what the search cost), then the evidence: per-source and per-class scores, the audit of leaky
protocols, per-subject spread, the selected pipeline against the best preset, the search itself.
"""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from merauto.atomic import write_text_atomic
from merauto.pipeline.config import IDENTITY_CHOICES, PREPROCESSING_STEPS, PipelineConfig
from merauto.pipeline.objectives import OBJECTIVES
from merauto.results.audit import candidate_rows, protocol_rows
from merauto.results.ensemble import ensemble_rows
from merauto.results.pareto import pareto_front
from merauto.results.report import figures
from merauto.results.report.summary import (
    Report,
    cost_line,
    estimate_rows,
    fold_rows,
    leaderboard_rows,
    preset_verdict,
    protocol_line,
    repeat_rows,
    trial_counts,
)
from merauto.results.selection import Estimate, eligible, selected_trial

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px}
.headline{border:2px solid #2a6;border-radius:8px;padding:1em 1.5em;background:#f4fbf6;margin:1em 0}
.headline .big{font-size:2.2em;font-weight:bold} .note{color:#555;font-size:0.9em}"""

NESTED_ESTIMATES = ("per-fold selection", "strict selection")  # the headline estimate, by protocol


def pipeline_in_words(config: PipelineConfig) -> list[str]:
    """The pipeline as a few labelled lines a person reads, not a config dump."""
    t = config.training
    used = [slot for slot in IDENTITY_CHOICES if getattr(config, slot).name != IDENTITY_CHOICES[slot]]
    steps = [f"{slot}: {getattr(config, slot).summary()}" for slot in used if slot in PREPROCESSING_STEPS]
    extras = [f"{slot}: {getattr(config, slot).summary()}" for slot in used if slot not in PREPROCESSING_STEPS]
    return [
        f"input: {config.input.summary()}",
        *steps,
        f"network: {config.topology.summary()} built of {config.block.summary()} blocks",
        *extras,
        f"loss: {config.loss.summary()} (class weighting {t.class_weighting})",
        f"training: {t.optimiser} with {t.schedule} schedule, lr {t.lr:.2g}, weight decay {t.weight_decay:.2g}, batch {t.batch_size}, "
        f"dropout {t.dropout:.2g}, up to {t.max_epochs} epochs (stopped on inner validation)",
    ]


def html_table(rows: list[dict[str, str]]) -> str:
    """``rows`` as an HTML table, one column per key in first-seen order ("none yet" when empty)."""
    if not rows:
        return "<p>none yet</p>"
    columns = list(dict.fromkeys(c for r in rows for c in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(report: Report) -> str:
    nested = next((report.estimate(n) for n in NESTED_ESTIMATES if report.estimate(n) is not None), None)
    counts = {state: sum(t.state == state for t in report.trials) for state in ("complete", "pruned", "failed")}
    hours = sum(t.seconds or 0.0 for t in report.trials) / 3600
    folds = len({f.test.fold for t in report.trials if t.outcome for f in t.outcome.folds})
    cost = (
        f"{len(report.trials)} trials ({counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed: "
        f"{trial_counts(report.trials)}), {folds} outer folds, {hours:.2f} hours of trial time"
    )
    verdict = preset_verdict(report.trials) if report.fold_trials is None else None
    if verdict is not None:
        cost += f". {verdict[0].upper()}{verdict[1:]}."
    if nested is None:
        return f'<div class="headline"><div class="big">no complete trial yet</div><p>{html.escape(cost)}</p></div>'
    s, ci = nested.scores, report.intervals[nested.name]
    chosen = selected_trial(eligible(report.trials)) if report.fold_trials is None else None
    words = ""
    if chosen is not None and chosen.config is not None:
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in pipeline_in_words(chosen.config))
        words = f"<p>Selected pipeline (trial {chosen.number}, what merauto export writes):</p><ul>{lines}</ul>"
    subjects = len(set(nested.subjects.tolist()))
    return f"""<div class="headline"><div class="big">UF1 {s["uf1"]:.3f} [{ci["uf1"][0]:.3f}, {ci["uf1"][1]:.3f}]</div>
<p>nested estimate ({html.escape(nested.name)}), pooled over {subjects} test subjects and {s["n"]} clips;
UAR {s["uar"]:.3f} [{ci["uar"][0]:.3f}, {ci["uar"][1]:.3f}]; 95% subject-bootstrap intervals.</p>
{words}<p class="note">{html.escape(cost)}</p></div>"""


def _best_preset(report: Report) -> Estimate | None:
    """The preset reference row with the best inner-validation score (chosen without its test scores),
    other than the selected trial itself."""
    chosen = selected_trial(report.trials)
    presets = [t for t in eligible(report.trials) if t.preset and t.number != chosen.number]
    if not presets:
        return None
    best = max(presets, key=lambda t: (t.objective, -t.number))
    return report.estimate(f"preset {best.preset}")


def _audit_section(report: Report) -> tuple[str, list[go.Figure]]:
    if report.audit is None:
        return "<h2>Protocol audit</h2><p>not available for strict runs (no candidate ran on every fold).</p>", []
    note = "" if report.audit.recorded else "<p>The last-epoch and best-test-epoch protocols need a search run with --audit.</p>"
    text = f"""<h2>Protocol audit: what each common practice would report</h2>
<p>Every row is computed after the search from stored test predictions; none of it informed any choice. Δ is the difference to
the nested estimate with a paired subject-bootstrap 95% interval.</p>{html_table(protocol_rows(report.audit))}{note}
<h3>Per candidate</h3>{html_table(candidate_rows(report.audit))}"""
    return text, [figures.audit_figure(report.audit)]


def _ensemble_section(report: Report) -> list[tuple[str, list[go.Figure]]]:
    """The ensembles against the best single trial chosen the same way (none without two candidates)."""
    if not report.ensembles:
        return []
    text = f"""<h2>Ensembles of the search's trials</h2>
<p>Greedy forward selection with replacement over the completed trials, on inner-validation probabilities only; the test
prediction averages the members' stored test probabilities (nothing retrained). The per-fold ensemble chooses each fold's
members on that fold's inner validation (nested); the global one on all folds' inner validation. Δ: the difference to the best
single trial chosen the same way, with a paired subject-bootstrap 95% interval.</p>{html_table(ensemble_rows(report.ensembles))}"""
    return [(text, [])]


def _pareto_section(report: Report) -> list[tuple[str, list[go.Figure]]]:
    """The front of a multi-objective study, its trials, and which one export takes (none for UF1 alone)."""
    objectives = report.info.objectives
    if len(objectives) == 1 or report.fold_trials is not None:
        return []
    front = pareto_front(report.trials, objectives)
    chosen = selected_trial(report.trials)
    rows = [
        {
            "trial": str(t.number) + (" (export default)" if chosen is not None and t.number == chosen.number else ""),
            "preset": t.preset or "",
            "inner UF1": f"{t.objective:.3f}",
            "outer UF1": f"{t.outcome.test_scores()['uf1']:.3f}",
            "params": str(t.n_params),
            "latency ms": "-" if t.latency_ms is None else f"{t.latency_ms:.3f}",
            "config": t.config.summary() if t.config else "",
        }
        for t in front
    ]
    limits = report.info.limits.describe()
    default = f"trial {chosen.number}" if chosen is not None else "none yet"
    text = f"""<h2>Accuracy against cost</h2>
<p>Objectives: {", ".join(OBJECTIVES[n].label for n in objectives)}{f"; limits: {html.escape(limits)}" if limits else ""}.
The front holds the feasible trials that ran every fold and that no other such trial beats on every objective; multi-fidelity
rungs prune on UF1 alone. <code>merauto export</code> takes the best inner UF1 among feasible trials ({default}); take
another with <code>merauto export RUN_DIR --trial N</code>.</p>{html_table(rows)}"""
    return [(text, [figures.pareto_figure(report.trials, front, objectives)] if front else [])]


def _sections(report: Report) -> list[tuple[str, list[go.Figure]]]:
    """(HTML, figures) in reading order."""
    shown = [e for e in report.estimates if not e.name.startswith("preset")]
    nested = next((report.estimate(n) for n in NESTED_ESTIMATES if report.estimate(n) is not None), None)
    by_source = [figures.source_figure(report.estimates)] if report.estimates else []
    sections = [
        (f"<h2>Outer-test estimates</h2>{html_table(estimate_rows(report))}", by_source),
        *_ensemble_section(report),
        *_pareto_section(report),
        _audit_section(report),
        ("<h2>Per class</h2>", [figures.per_class_figure(shown), figures.confusion_figure(shown)] if shown else []),
    ]
    if nested is not None:
        compared = []
        selected, preset = report.estimate("global selection"), _best_preset(report)
        if selected is not None and preset is not None:
            compared.append(figures.paired_figure(selected, preset))
        sections.append(("<h2>Per subject (LOSO spread)</h2>", [figures.subject_figure(nested), *compared]))
    search = [figures.options_figure(report.trials)]
    if report.study is not None:
        search.insert(0, figures.history_figure(report.trials))
        importance = figures.importance_figure(report.study)
        search += [importance] if importance is not None else []
    costs = ""
    if any(t.train_s for t in report.timings):
        search.append(figures.cost_prediction_figure(report.timings))
        costs = f"<p>{html.escape(cost_line(report.timings))}.</p>"
    sections.append((f"<h2>The search</h2>{costs}", search))
    tables = f"""<h2>Trials rerun over new seeds</h2>
<p>merauto repeat and merauto confirm: each trial's search score (one seed) beside its new seeds' mean ± sd. A search score
well above the new seeds' mean is luck of the search's seed (the winner's curse); after merauto confirm the selection takes
the best mean inner UF1 over all seeds.</p>{html_table(repeat_rows(report))}
<h2>{"Best trial of each fold study" if report.fold_trials is not None else "Leaderboard"}</h2>
{html_table(fold_rows(report) if report.fold_trials is not None else leaderboard_rows(report))}"""
    sections.append((tables, []))
    return sections


def write_html(report: Report, path: Path, extra: list[tuple[str, list[go.Figure]]] | None = None) -> Path:
    """Write the report atomically and return its path; ``extra`` sections (HTML, figures) go before the tables."""
    sections = _sections(report)
    sections[-1:-1] = extra or []
    parts, first = [], True
    for text, figs in sections:
        parts.append(text)
        for figure in figs:
            parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
            first = False
    title = f"merauto report: {html.escape(report.info.study_name)}"
    document = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}</style>
</head><body><h1>{title}</h1>
<p>{html.escape(protocol_line(report))}</p>
{_headline(report)}
{"".join(parts)}
</body></html>"""
    return write_text_atomic(Path(path), document, "the report")
