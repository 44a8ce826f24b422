"""A run's estimates as a table to paste into a paper: Markdown, LaTeX (booktabs) or CSV.

Rows, in the order a reader should weigh them: the nested estimate first (the number to report),
then the optimistic global selection (chosen with every subject's inner scores), then each
literature preset scored under the same protocol (reference rows), then, when the run recorded
them, the audit's shortcut protocols (what a paper using them would have reported). Each row
gives pooled outer-test UF1 and UAR with 95% subject-bootstrap intervals, overall and per source
dataset.
"""

from __future__ import annotations

import csv
import io

from merauto.evaluator.metrics import subject_bootstrap, uar, uf1
from merauto.results.audit import ALL_SOURCES, NESTED
from merauto.results.report import Report
from merauto.results.selection import Estimate

FORMATS = ("markdown", "latex", "csv")
NESTED_ESTIMATES = ("per-fold selection", "strict selection")


def _role(e: Estimate) -> str:
    if e.name in NESTED_ESTIMATES:
        return "nested estimate"
    if e.name.startswith("preset"):
        return "reference (same protocol)"
    return "optimistic (selected on every subject's inner scores)"


def _with_interval(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def estimate_row(e: Estimate, sources: list[str], n_resamples: int) -> dict[str, str]:
    """One estimate: its role, UF1 and UAR with intervals overall and per source."""
    row = {"estimate": e.name, "role": _role(e)}
    row["UF1"] = _with_interval(e.scores["uf1"], e.interval(uf1, n_resamples))
    row["UAR"] = _with_interval(e.scores["uar"], e.interval(uar, n_resamples))
    for source in sources:
        rows = e.sources == source
        for name, metric in (("UF1", uf1), ("UAR", uar)):
            if not rows.any():
                row[f"{name} {source}"] = "-"
                continue
            ci = subject_bootstrap(e.y_true[rows], e.y_pred[rows], e.subjects[rows], metric, len(e.classes), n_resamples)
            row[f"{name} {source}"] = _with_interval(e.by_source[source][name.lower()], ci)
    return row


def paper_rows(report: Report, n_resamples: int = 1000) -> list[dict[str, str]]:
    """The table's rows (see the module docstring)."""
    order = {"nested estimate": 0, "optimistic (selected on every subject's inner scores)": 1, "reference (same protocol)": 2}
    estimates = sorted(report.estimates, key=lambda e: order[_role(e)])
    sources = sorted({s for e in estimates for s in e.by_source}) if any(len(e.by_source) > 1 for e in estimates) else []
    rows = [estimate_row(e, sources, n_resamples) for e in estimates]
    if report.audit is not None:
        for p in report.audit.protocols:
            if p.name == NESTED:
                continue
            row = {"estimate": p.name, "role": "audit: shortcut protocol (leaks test subjects)"}
            row["UF1"] = f"{p.uf1[ALL_SOURCES]:.3f} (Δ {p.uf1_difference[ALL_SOURCES]})"
            row["UAR"] = f"{p.uar[ALL_SOURCES]:.3f} (Δ {p.uar_difference[ALL_SOURCES]})"
            for source in sources:
                row[f"UF1 {source}"] = f"{p.uf1[source]:.3f}" if source in p.uf1 else "-"
            rows.append(row)
    return rows


def _columns(rows: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(c for r in rows for c in r))


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("Δ", r"$\Delta$")):
        text = text.replace(char, escaped)
    return text


def render(rows: list[dict[str, str]], fmt: str, caption: str = "") -> str:
    """``rows`` as a ``fmt`` table (one of :data:`FORMATS`)."""
    columns = _columns(rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(r.get(c, "").replace("|", "\\|") for c in columns) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        head = " & ".join(_latex_escape(c) for c in columns) + r" \\"
        body = [" & ".join(_latex_escape(r.get(c, "")) for c in columns) + r" \\" for r in rows]
        return (
            "\n".join(
                [
                    r"\begin{table}[t]",
                    r"\centering",
                    *([rf"\caption{{{_latex_escape(caption)}}}"] if caption else []),
                    r"\begin{tabular}{" + "l" * len(columns) + "}",
                    r"\toprule",
                    head,
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                    r"\end{table}",
                ]
            )
            + "\n"
        )
    raise ValueError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}")
