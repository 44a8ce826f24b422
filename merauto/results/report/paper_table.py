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
from merauto.results.arguments import TABLE_FORMATS
from merauto.results.audit import ALL_SOURCES, NESTED, ProtocolResult
from merauto.results.report.summary import NESTED_ESTIMATES, Report
from merauto.results.selection import Estimate

FORMATS = TABLE_FORMATS

AUDIT_ROLE = "audit: shortcut protocol (leaks test subjects)"
Record = dict[str, str | float | None]  # one row of numbers: a score ``k`` with its interval ``k_low``, ``k_high``


def _role(e: Estimate) -> str:
    if e.name in NESTED_ESTIMATES:
        return "nested estimate"
    if e.name.startswith("preset"):
        return "reference (same protocol)"
    return "optimistic (selected on every subject's inner scores)"


def _scored(record: Record, key: str, value: float | None, interval: tuple[float, float] | None) -> None:
    record[key] = value
    record[f"{key}_low"], record[f"{key}_high"] = interval or (None, None)


def estimate_record(e: Estimate, sources: list[str], n_resamples: int) -> Record:
    """One estimate: its role, UF1 and UAR with 95% subject-bootstrap intervals overall and per source
    (``uf1``, ``uf1_low``, ``uf1_high``, ..., ``uf1_SOURCE``, ...; ``None`` for a source it holds no row of)."""
    record: Record = {"estimate": e.name, "role": _role(e)}
    _scored(record, "uf1", e.scores["uf1"], e.interval(uf1, n_resamples))
    _scored(record, "uar", e.scores["uar"], e.interval(uar, n_resamples))
    for source in sources:
        rows = e.sources == source
        for name, metric in (("uf1", uf1), ("uar", uar)):
            if not rows.any():
                _scored(record, f"{name}_{source}", None, None)
                continue
            ci = subject_bootstrap(e.y_true[rows], e.y_pred[rows], e.subjects[rows], metric, len(e.classes), n_resamples)
            _scored(record, f"{name}_{source}", e.by_source[source][name], ci)
    return record


def _audit_record(p: ProtocolResult, sources: list[str]) -> Record:
    """A shortcut protocol of the audit: its UF1 and UAR, their differences to the nested estimate
    (``uf1_vs_nested`` with its paired interval), and its UF1 per source."""
    record: Record = {"estimate": p.name, "role": AUDIT_ROLE}
    for name in ("uf1", "uar"):
        difference = getattr(p, f"{name}_difference")[ALL_SOURCES]
        record[name] = getattr(p, name)[ALL_SOURCES]
        _scored(record, f"{name}_vs_nested", difference.value, (difference.low, difference.high))
    for source in sources:
        record[f"uf1_{source}"] = p.uf1.get(source)
    return record


def paper_records(report: Report, n_resamples: int = 1000) -> tuple[list[Record], list[str]]:
    """The table's rows as numbers (see the module docstring), and the sources they are scored on
    (none when every estimate comes from one source)."""
    order = {"nested estimate": 0, "optimistic (selected on every subject's inner scores)": 1, "reference (same protocol)": 2}
    estimates = sorted(report.estimates, key=lambda e: order[_role(e)])
    sources = sorted({s for e in estimates for s in e.by_source}) if any(len(e.by_source) > 1 for e in estimates) else []
    records = [estimate_record(e, sources, n_resamples) for e in estimates]
    if report.audit is not None:
        records += [_audit_record(p, sources) for p in report.audit.protocols if p.name != NESTED]
    return records, sources


def _with_interval(record: Record, key: str) -> str:
    if record[key] is None:
        return "-"
    return f"{record[key]:.3f} [{record[f'{key}_low']:.3f}, {record[f'{key}_high']:.3f}]"


def _with_difference(record: Record, key: str) -> str:
    low, high = record[f"{key}_vs_nested_low"], record[f"{key}_vs_nested_high"]
    return f"{record[key]:.3f} (Δ {record[f'{key}_vs_nested']:+.3f} [{low:+.3f}, {high:+.3f}])"


def paper_rows(report: Report, n_resamples: int = 1000) -> list[dict[str, str]]:
    """The table's rows as text, from :func:`paper_records`."""
    records, sources = paper_records(report, n_resamples)
    rows = []
    for r in records:
        row = {"estimate": str(r["estimate"]), "role": str(r["role"])}
        if r["role"] == AUDIT_ROLE:
            row["UF1"], row["UAR"] = _with_difference(r, "uf1"), _with_difference(r, "uar")
            for source in sources:
                row[f"UF1 {source}"] = "-" if r[f"uf1_{source}"] is None else f"{r[f'uf1_{source}']:.3f}"
        else:
            row["UF1"], row["UAR"] = _with_interval(r, "uf1"), _with_interval(r, "uar")
            for source in sources:
                row[f"UF1 {source}"], row[f"UAR {source}"] = _with_interval(r, f"uf1_{source}"), _with_interval(r, f"uar_{source}")
        rows.append(row)
    return rows


def paper_table(report: Report, fmt: str, n_resamples: int = 1000) -> str:
    """The run's estimates as a ``fmt`` table under a caption naming its dataset (``merauto report --table``)."""
    caption = f"{report.info.dataset.label()}: pooled outer-test scores with 95% subject-bootstrap intervals (merauto)"
    return render(paper_rows(report, n_resamples), fmt, caption)


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
