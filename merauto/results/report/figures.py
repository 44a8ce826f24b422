"""The plotly figures of report.html, each from stored results only (no training)."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from merauto.evaluator.metrics import accuracy_by_group, paired_subject_bootstrap, subject_bootstrap, uf1
from merauto.pipeline.config import SLOTS
from merauto.pipeline.objectives import OBJECTIVES
from merauto.results.audit import ALL_SOURCES, NESTED, Audit, source_names
from merauto.results.selection import Estimate, trial_estimate
from merauto.results.store import StoredTrial, TrialTiming

PALETTE = plotly.colors.qualitative.Plotly  # one colour per estimate, the same in every figure
TRUSTED_IMPORTANCE_TRIALS = 30  # fewer complete trials than this: importances are shown with a caveat
SLOT_COLUMNS = 3


def history_figure(trials: list[StoredTrial]) -> go.Figure:
    """Inner-validation UF1 (the objective), its running best, and the outer UF1 each trial would have had."""
    complete = sorted((t for t in trials if t.state == "complete"), key=lambda t: t.number)
    numbers = [t.number for t in complete]
    inner = [t.objective for t in complete]
    figure = go.Figure()
    figure.add_scatter(x=numbers, y=inner, mode="markers", name="inner-validation UF1 (objective)")
    figure.add_scatter(x=numbers, y=list(np.maximum.accumulate(inner)) if inner else [], mode="lines", name="best objective so far")
    figure.add_scatter(
        x=numbers,
        y=[t.outcome.test_scores()["uf1"] for t in complete],
        mode="markers",
        marker_symbol="x",
        name="outer-test UF1 (never used to select)",
    )
    failed = [t.number for t in trials if t.state == "failed"]
    if failed:
        figure.add_scatter(x=failed, y=[0] * len(failed), mode="markers", marker_color="red", name="failed trial")
    figure.update_layout(title="optimisation history: inner vs outer UF1", xaxis_title="trial", yaxis_title="UF1")
    return figure


def confusion_figure(estimates: Sequence[Estimate]) -> go.Figure:
    """Confusion matrices of the selections (counts in each cell)."""
    shown = [e for e in estimates if not e.name.startswith("preset")]
    figure = make_subplots(rows=1, cols=max(1, len(shown)), subplot_titles=[e.name for e in shown])
    for i, e in enumerate(shown, start=1):
        matrix = e.scores["confusion"]
        heatmap = go.Heatmap(
            z=matrix, x=list(e.classes), y=list(e.classes), text=matrix, texttemplate="%{text}", colorscale="Blues", showscale=False
        )
        figure.add_trace(heatmap, row=1, col=i)
        figure.update_xaxes(title_text="predicted", row=1, col=i)
        figure.update_yaxes(title_text="true", autorange="reversed", row=1, col=i)
    figure.update_layout(title="confusion matrices of the selected pipelines (outer test)")
    return figure


def source_figure(estimates: Sequence[Estimate], n_resamples: int = 500) -> go.Figure:
    """Outer-test UF1 per source dataset with subject-bootstrap 95% intervals, one bar group per estimate."""
    figure = go.Figure()
    for e, colour in zip(estimates, PALETTE * len(estimates), strict=False):
        names, values, low, high = [], [], [], []
        for source, scores in e.by_source.items():
            rows = e.sources == source
            interval = subject_bootstrap(e.y_true[rows], e.y_pred[rows], e.subjects[rows], uf1, len(e.classes), n_resamples)
            names.append(source)
            values.append(scores["uf1"])
            low.append(max(0.0, scores["uf1"] - interval[0]))  # a percentile interval may miss the point estimate
            high.append(max(0.0, interval[1] - scores["uf1"]))
        error = {"type": "data", "symmetric": False, "array": high, "arrayminus": low}
        figure.add_bar(name=e.name, x=names, y=values, error_y=error, marker_color=colour)
    figure.update_layout(title="outer-test UF1 per source dataset (95% subject-bootstrap intervals)", barmode="group", yaxis_title="UF1")
    return figure


def per_class_figure(estimates: Sequence[Estimate]) -> go.Figure:
    """Per-class F1 and recall of the selections."""
    shown = [e for e in estimates if not e.name.startswith("preset")]
    figure = make_subplots(rows=1, cols=2, subplot_titles=["F1 per class", "recall per class"])
    for e, colour in zip(shown, PALETTE, strict=False):
        scores, style = e.scores, {"legendgroup": e.name, "marker_color": colour}
        figure.add_bar(name=e.name, x=list(e.classes), y=scores["f1_per_class"], row=1, col=1, **style)
        figure.add_bar(name=e.name, x=list(e.classes), y=scores["recall_per_class"], row=1, col=2, showlegend=False, **style)
    figure.update_yaxes(range=[0, 1])
    figure.update_layout(title="per-class F1 and recall (outer test)", barmode="group")
    return figure


def subject_figure(estimate: Estimate) -> go.Figure:
    """Accuracy on each test subject (the LOSO spread), grouped by source, with each subject's clip count."""
    by_subject = accuracy_by_group(estimate.y_true, estimate.y_pred, estimate.subjects)
    source_of = {str(s): str(src) for s, src in zip(estimate.subjects, estimate.sources, strict=True)}
    figure = go.Figure()
    for source in sorted(set(source_of.values())):
        subjects = sorted((s for s in by_subject if source_of[s] == source), key=lambda s: by_subject[s][0])
        figure.add_bar(
            name=source,
            x=[f"{source}/{s}" for s in subjects],
            y=[by_subject[s][0] for s in subjects],
            customdata=[by_subject[s][1] for s in subjects],
            hovertemplate="%{x}: accuracy %{y:.2f} over %{customdata} clips<extra></extra>",
        )
    values = [v for v, _ in by_subject.values()]
    figure.add_hline(y=float(np.mean(values)), line_dash="dot", annotation_text=f"mean over subjects {np.mean(values):.2f}")
    figure.update_xaxes(showticklabels=len(by_subject) <= 40, title_text=f"{len(by_subject)} test subjects (one LOSO fold each)")
    figure.update_layout(
        title=f"per-subject accuracy of the {estimate.name} (spread {np.min(values):.2f} to {np.max(values):.2f})", yaxis_title="accuracy"
    )
    return figure


def paired_figure(selected: Estimate, preset: Estimate, n_resamples: int = 1000) -> go.Figure:
    """The selected pipeline against a preset, subject by subject, with the paired interval of the UF1 difference."""
    mine = accuracy_by_group(selected.y_true, selected.y_pred, selected.subjects)
    theirs = accuracy_by_group(preset.y_true, preset.y_pred, preset.subjects)
    subjects = sorted(mine)
    same_rows = np.array_equal(selected.y_true, preset.y_true) and np.array_equal(selected.subjects, preset.subjects)
    difference = ""
    if same_rows:
        n = len(selected.classes)
        interval = paired_subject_bootstrap(selected.y_true, selected.y_pred, preset.y_pred, selected.subjects, n, n_resamples)["uf1"]
        delta = uf1(selected.y_true, selected.y_pred, n) - uf1(preset.y_true, preset.y_pred, n)
        difference = f": ΔUF1 {delta:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"
    counts = [mine[s][1] for s in subjects]
    figure = go.Figure()
    figure.add_scatter(
        x=[theirs[s][0] for s in subjects],
        y=[mine[s][0] for s in subjects],
        mode="markers",
        text=subjects,
        marker={"size": [6 + 2 * math.sqrt(c) for c in counts], "opacity": 0.7},
        hovertemplate="subject %{text}: preset %{x:.2f}, selected %{y:.2f}<extra></extra>",
        name="test subject",
    )
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="equal")
    above = sum(mine[s][0] > theirs[s][0] for s in subjects)
    below = sum(mine[s][0] < theirs[s][0] for s in subjects)
    figure.update_layout(
        title=f"{selected.name} vs {preset.name}, per test subject{difference} (better on {above}, worse on {below} subjects)",
        xaxis_title=f"accuracy of {preset.name}",
        yaxis_title=f"accuracy of {selected.name}",
        xaxis_range=[-0.05, 1.05],
        yaxis_range=[-0.05, 1.05],
    )
    return figure


def audit_figure(audit: Audit) -> go.Figure:
    """How much each protocol inflates UF1 over the nested estimate, overall and per source, with paired intervals."""
    groups = source_names(audit)
    figure = go.Figure()
    for p in audit.protocols:
        if p.name == NESTED:
            continue
        differences = [p.uf1_difference[g] for g in groups]
        error = {
            "type": "data",
            "symmetric": False,
            "array": [max(0.0, d.high - d.value) for d in differences],
            "arrayminus": [max(0.0, d.value - d.low) for d in differences],
        }
        figure.add_bar(name=p.name, x=groups, y=[d.value for d in differences], error_y=error)
    figure.add_hline(y=0, line_color="black")
    figure.update_layout(
        title="inflation of each protocol over the nested estimate (ΔUF1, 95% paired subject-bootstrap intervals)",
        barmode="group",
        yaxis_title=f"UF1 minus nested UF1 ({ALL_SOURCES}: pooled over every source)",
    )
    return figure


def options_figure(trials: list[StoredTrial]) -> go.Figure:
    """How often each option of each slot was tried: one horizontal bar chart per slot, every bar labelled."""
    configs = [t.config for t in trials if t.config is not None]
    counts = {slot: Counter(getattr(c, slot).name for c in configs) for slot in SLOTS}
    rows = math.ceil(len(SLOTS) / SLOT_COLUMNS)
    figure = make_subplots(rows=rows, cols=SLOT_COLUMNS, subplot_titles=list(SLOTS), horizontal_spacing=0.18, vertical_spacing=0.08)
    tallest = [max(len(counts[s]) for s in SLOTS[r * SLOT_COLUMNS : (r + 1) * SLOT_COLUMNS]) for r in range(rows)]
    for i, slot in enumerate(SLOTS):
        row, col = divmod(i, SLOT_COLUMNS)
        names = sorted(counts[slot], key=lambda n: counts[slot][n])
        figure.add_bar(y=names, x=[counts[slot][n] for n in names], orientation="h", showlegend=False, row=row + 1, col=col + 1)
        figure.update_yaxes(tickmode="array", tickvals=names, ticktext=names, row=row + 1, col=col + 1)
    figure.update_layout(title=f"how often each option was tried ({len(configs)} trials)", height=160 + 28 * sum(tallest) + 60 * rows)
    return figure


def slot_of(param: str) -> str:
    """The slot an Optuna parameter belongs to: ``topology.stacked.depth`` -> ``topology``."""
    return param.split(".", 1)[0]


def importance_figure(study: optuna.Study) -> go.Figure | None:
    """fANOVA importance per slot (the summed importances of its parameters present in every
    complete trial), with a caveat when there are too few trials; ``None`` below two trials."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    common = set.intersection(*(set(t.params) for t in complete)) if len(complete) >= 2 else set()
    varied = sorted(p for p in common if len({repr(t.params[p]) for t in complete}) > 1)
    if not varied:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importances = optuna.importance.get_param_importances(study, params=varied)
    by_slot: Counter[str] = Counter()
    for param, value in importances.items():
        by_slot[slot_of(param)] += value
    slots = sorted(by_slot, key=lambda s: by_slot[s])
    hover = ["<br>".join(f"{p}: {v:.3f}" for p, v in importances.items() if slot_of(p) == s) for s in slots]
    figure = go.Figure(go.Bar(y=slots, x=[by_slot[s] for s in slots], orientation="h", hovertext=hover))
    figure.update_yaxes(tickmode="array", tickvals=slots, ticktext=slots)
    caveat = ""
    if len(complete) < TRUSTED_IMPORTANCE_TRIALS:
        caveat = f"<br><sup>only {len(complete)} complete trials: too few to trust these (want {TRUSTED_IMPORTANCE_TRIALS}+)</sup>"
    figure.update_layout(
        title=f"which slots mattered: fANOVA importance of the objective, summed per slot{caveat}",
        xaxis_title=f"importance (parameters present in all {len(complete)} complete trials; hover for each)",
        height=200 + 30 * len(slots),
    )
    return figure


COSTS: dict[str, Callable[[StoredTrial], float | None]] = {"params": lambda t: t.n_params, "latency": lambda t: t.latency_ms}


def cost_prediction_figure(timings: Sequence[TrialTiming]) -> go.Figure:
    """Each trial's training time as the cost model predicted it before it trained, against the time it took
    (log-log; a trial pruned after a rung is compared with the prediction for the folds it trained)."""
    figure = go.Figure()
    trained = [t for t in timings if t.train_s is not None and t.work_fraction > 0]
    for device in sorted({t.device for t in trained}):
        mine = [t for t in trained if t.device == device]
        figure.add_scatter(
            x=[t.predicted_s * t.work_fraction for t in mine],
            y=[t.train_s for t in mine],
            mode="markers",
            name=f"trained on {device}",
            text=[f"trial {t.number}" + ("" if t.work_fraction == 1 else f" ({t.work_fraction:.0%} of the folds)") for t in mine],
        )
    values = [v for t in trained for v in (t.predicted_s * t.work_fraction, t.train_s)] or [1.0, 10.0]
    low, high = min(values) / 1.5, max(values) * 1.5
    figure.add_scatter(x=[low, high], y=[low, high], mode="lines", line_dash="dot", line_color="grey", name="predicted = measured")
    figure.update_layout(
        title="cost model: predicted against measured training time per trial",
        xaxis={"title": "predicted seconds (before training)", "type": "log"},
        yaxis={"title": "measured seconds", "type": "log"},
    )
    return figure


def _cost_scatter(
    figure: go.Figure, col: int, name: str, group: list[StoredTrial], label: str, y: Callable[[StoredTrial], float], **style: Any
) -> None:
    """``group`` as one scatter of ``y`` against cost ``name`` in subplot ``col`` (one legend entry per label)."""
    group = [t for t in group if COSTS[name](t) is not None]
    figure.add_scatter(
        x=[COSTS[name](t) for t in group],
        y=[y(t) for t in group],
        text=[f"trial {t.number}" + (f" ({t.preset})" if t.preset else "") for t in group],
        name=label,
        legendgroup=label,
        showlegend=col == 1,
        row=1,
        col=col,
        **style,
    )


def pareto_figure(trials: list[StoredTrial], front: list[StoredTrial], objectives: tuple[str, ...]) -> go.Figure:
    """Inner-validation UF1 against each cost objective: every complete trial, the infeasible ones,
    the presets, the front (a step line), and the front's outer UF1 with 95% subject-bootstrap intervals."""
    cost_names = [n for n in objectives if n != "uf1"]
    figure = make_subplots(rows=1, cols=len(cost_names), subplot_titles=[OBJECTIVES[n].label for n in cost_names])
    complete = [t for t in trials if t.state == "complete" and t.objective is not None]
    outer = {t.number: t.outcome.test_scores()["uf1"] for t in front}
    intervals = {t.number: trial_estimate(t, "", "").interval(uf1, 500) for t in front}

    def inner(t: StoredTrial) -> float:
        return t.objective

    def tested(t: StoredTrial) -> float:
        return outer[t.number]

    for col, name in enumerate(cost_names, start=1):
        ordered = sorted((t for t in front if COSTS[name](t) is not None), key=lambda t, n=name: (COSTS[n](t), -t.objective))
        error = {
            "type": "data",
            "symmetric": False,
            "array": [max(0.0, intervals[t.number][1] - outer[t.number]) for t in ordered],
            "arrayminus": [max(0.0, outer[t.number] - intervals[t.number][0]) for t in ordered],
        }
        layers = [
            (
                [t for t in complete if t.feasible and not t.preset],
                "trial (inner UF1)",
                inner,
                {"mode": "markers", "marker": {"color": "lightgrey"}},
            ),
            ([t for t in complete if not t.feasible], "infeasible", inner, {"mode": "markers", "marker": {"color": "red", "symbol": "x"}}),
            (
                [t for t in complete if t.preset and t.feasible],
                "preset",
                inner,
                {"mode": "markers", "marker": {"symbol": "star", "size": 12, "color": PALETTE[2]}},
            ),
            (
                ordered,
                "Pareto front (inner UF1)",
                inner,
                {"mode": "lines+markers", "line": {"shape": "hv", "color": PALETTE[0]}, "marker": {"size": 10, "color": PALETTE[0]}},
            ),
            (
                ordered,
                "front: outer UF1 [95% CI], never used to choose",
                tested,
                {"mode": "markers", "marker": {"color": PALETTE[4]}, "error_y": error},
            ),
        ]
        for group, label, y, style in layers:
            _cost_scatter(figure, col, name, group, label, y, **style)
        figure.update_xaxes(type="log", title_text=OBJECTIVES[name].label, row=1, col=col)
        figure.update_yaxes(title_text="UF1", row=1, col=col)
    figure.update_layout(title="accuracy against cost: the Pareto front of the feasible trials that ran every fold")
    return figure
