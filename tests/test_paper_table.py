"""``merauto report RUN --table``: a run's estimates as a paper table, nested estimate first, per source."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import numpy as np
import pytest

from merauto.evaluator.metrics import uf1
from merauto.results.report.paper_table import FORMATS, paper_rows, render
from merauto.results.selection import Estimate

CLASSES = ("negative", "positive", "surprise")


def _estimates() -> list[Estimate]:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 48)
    subjects = np.repeat([f"s{k}" for k in range(8)], 6)
    sources = np.where(np.arange(48) < 24, "casme2", "smic")
    right = np.where(rng.random(48) < 0.7, truth, (truth + 1) % 3)
    make = lambda name, pred: Estimate(name, "", {}, truth, pred, subjects, sources, CLASSES)  # noqa: E731
    return [make("preset ststnet", np.zeros(48, int)), make("global selection", truth.copy()), make("per-fold selection", right)]


def test_rows_put_the_nested_estimate_first_with_intervals_overall_and_per_source() -> None:
    estimates = _estimates()
    rows = paper_rows(SimpleNamespace(estimates=estimates, audit=None), n_resamples=200)
    assert [r["estimate"] for r in rows] == ["per-fold selection", "global selection", "preset ststnet"]
    assert [r["role"] for r in rows][0] == "nested estimate" and rows[2]["role"] == "reference (same protocol)"
    nested = estimates[2]
    assert rows[0]["UF1"].startswith(f"{nested.scores['uf1']:.3f} [")
    casme2 = nested.sources == "casme2"
    expected = uf1(nested.y_true[casme2], nested.y_pred[casme2], 3)
    assert rows[0]["UF1 casme2"].startswith(f"{expected:.3f} [") and "UAR smic" in rows[0]
    low, high = (float(x) for x in rows[0]["UF1"].split("[")[1].rstrip("]").split(","))
    assert low <= nested.scores["uf1"] <= high


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_holds_every_row_and_column(fmt: str) -> None:
    rows = paper_rows(SimpleNamespace(estimates=_estimates(), audit=None), n_resamples=100)
    text = render(rows, fmt, "composite_x: pooled outer-test scores")
    if fmt == "csv":
        assert list(csv.DictReader(io.StringIO(text))) == rows
    elif fmt == "markdown":
        lines = text.splitlines()
        assert lines[0].startswith("| estimate | role | UF1 | UAR |") and len(lines) == 2 + len(rows)
        assert lines[2].startswith("| per-fold selection | nested estimate |")
    else:
        assert r"\toprule" in text and r"\bottomrule" in text and r"\caption{composite\_x: pooled outer-test scores}" in text
        body = text.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
        assert len(body) == len(rows) and body[0].startswith("per-fold selection & nested estimate &")
    with pytest.raises(ValueError, match="unknown table format"):
        render(rows, "html")
