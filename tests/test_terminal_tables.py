"""`merauto report` on the terminal: one line per row when piped or narrow, the nested estimate first, full configs on a wide terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import TINY
from rich.console import Console

from merauto.evaluator.nested import FoldOutcome, FoldSelection, FoldTest, TrialOutcome
from merauto.evaluator.settings import EvaluationSettings
from merauto.results.audit import audit_study
from merauto.results.ensemble import ensembles
from merauto.results.report.summary import Report, leaderboard_rows, pipeline_line, print_report
from merauto.results.report.tables import print_rows
from merauto.results.run_dir import RunInfo
from merauto.results.selection import global_selection, per_fold_selection, trial_estimate
from merauto.results.store import StoredTrial
from merauto.search_space.describe import sample_configs
from merauto.search_space.presets import PRESETS

CLASSES = ("negative", "positive", "surprise")
SUBJECTS = [("s1", "casme2"), ("s2", "casme2"), ("s3", "samm"), ("s4", "samm"), ("s5", "smic"), ("s6", "smic")]
ROWS = 6  # inner-validation and test rows per fold
RESAMPLES = 100


def _outcome(rng: np.random.Generator, folds: int = len(SUBJECTS)) -> TrialOutcome:
    """Random predictions on every fold: inner probabilities (for ensembles) and per-epoch test predictions (for the audit)."""
    outcomes = []
    truth = [k % 3 for k in range(ROWS)]
    for k, (subject, source) in enumerate(SUBJECTS[:folds]):
        inner = rng.dirichlet(np.ones(3), ROWS)
        inner_pred = inner.argmax(1).tolist()
        right = float(np.mean(np.array(inner_pred) == truth))
        ids = [f"{subject}-inner-{i}" for i in range(ROWS)]
        selection = FoldSelection(k, subject, [right], 1, ids, truth, inner_pred, right, right, [], inner.tolist())
        probs = rng.dirichlet(np.ones(3), ROWS)
        curve = [rng.integers(0, 3, ROWS).tolist() for _ in range(3)]
        test_ids = [f"{subject}-{i}" for i in range(ROWS)]
        test = FoldTest(k, subject, test_ids, [subject] * ROWS, [source] * ROWS, truth, probs.argmax(1).tolist(), probs.tolist(), curve)
        outcomes.append(FoldOutcome(selection, test, 1.0))
    return TrialOutcome(CLASSES, outcomes)


def _trials() -> list[StoredTrial]:
    """20 trials: two presets and 16 sampled pipelines trained on every fold, one stopped after two folds, one failed."""
    rng = np.random.default_rng(0)
    configs = [PRESETS["ststnet"], PRESETS["off_apexnet"], *sample_configs(17, seed=3)]
    trials = []
    for number, config in enumerate(configs):
        preset = ("ststnet", "off_apexnet")[number] if number < 2 else None
        state, outcome = ("pruned", _outcome(rng, folds=2)) if number == 18 else ("complete", _outcome(rng))
        trials.append(StoredTrial(number, state, preset, config, outcome.objective(), 1000 + number, 60.0, None, outcome))
    error = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB; " * 4
    trials.append(StoredTrial(19, "failed", None, sample_configs(1, seed=9)[0], None, None, None, error, None))
    return trials


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A 20-trial run's report, built from its trials as merauto report builds it (no training)."""
    trials = _trials()
    found = ensembles(trials, n_resamples=RESAMPLES)
    estimates = [global_selection(trials), per_fold_selection(trials), *(e.estimate for e in found)]
    estimates += [trial_estimate(t, f"preset {t.preset}", f"trial {t.number}, reference row (not a selection)") for t in trials[:2]]
    intervals = {e.name: {"uf1": (0.1, 0.9), "uar": (0.2, 0.8)} for e in estimates}
    info = RunInfo("s", "sqlite:///unused.db", TINY, EvaluationSettings())
    run_dir = tmp_path_factory.mktemp("run")
    return Report(run_dir, info, None, trials, estimates, intervals, audit=audit_study(trials, RESAMPLES), ensembles=found)


def _render(report: Report, width: int, terminal: bool, top: int = 10) -> list[str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    print_report(report, console, top=top)
    return console.file.getvalue().splitlines()


def _table_rows(lines: list[str], title: str, count: int) -> list[str]:
    """The ``count`` lines below the header and its rule of the table titled ``title``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    assert set(lines[start + 2].strip()) == {"─"}, "a one-line header, then its rule"
    return lines[start + 3 : start + 3 + count]


def test_piped_at_80_columns_every_line_fits_and_the_report_is_short(report: Report) -> None:
    lines = _render(report, 80, terminal=False)
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    assert len(lines) < 80, "\n".join(lines)
    assert "full configs: report.html, and merauto dashboard" in "\n".join(lines)
    assert not any("w=balanced" in line for line in lines), "no full config when piped"


def test_the_nested_estimate_comes_before_any_optimistic_number(report: Report) -> None:
    lines = _render(report, 80, terminal=False)
    nested = next(i for i, line in enumerate(lines) if line.startswith("per-fold selection"))
    optimistic = [i for i, line in enumerate(lines) if "global selection" in line or line.startswith("leaderboard")]
    assert nested < min(optimistic)
    assert "nested" in lines[nested] and "optimistic" in next(line for line in lines if line.startswith("global selection"))
    assert "reference" in next(line for line in lines if line.startswith("preset ststnet"))


def test_each_trial_of_the_leaderboard_takes_one_line(report: Report) -> None:
    lines = _render(report, 80, terminal=False, top=10)
    shown = leaderboard_rows(report, short=True)[:10]
    rows = _table_rows(lines, "leaderboard:", 11)
    for row, line in zip(shown, rows, strict=False):
        assert line.split()[:3] == [row["trial"], row["inner UF1"], row["outer UF1"]], "rank and the UARs left out at 80 columns"
        assert row["pipeline"][:40] in line, "the trial's pipeline in a few words"
    assert rows[10].startswith(("(left out", "full configs")), "no row continues on a second line"
    assert "preset" in "".join(rows) and "×" in "".join(rows)


def test_a_wide_terminal_shows_each_full_config(report: Report) -> None:
    lines = _render(report, 200, terminal=True, top=3)
    shown = leaderboard_rows(report, short=True)[:3]
    rows = _table_rows(lines, "leaderboard:", 4)
    for row, line in zip(shown, rows, strict=False):
        assert line.split()[:6] == [row[c] for c in ("rank", "trial", "inner UF1", "inner UAR", "outer UF1", "outer UAR")]
        assert line.rstrip().endswith(row["pipeline"]), "the pipeline in a few words, whole"
    assert rows[3] == "full configs:"
    text = "".join("\n".join(lines).split())
    configs = {t.number: t.config for t in report.trials}
    for row in shown:
        assert f"trial{row['trial']}:" + "".join(configs[int(row["trial"])].summary().split()) in text, "each shown trial's full config"
    assert max(len(line) for line in lines) <= 200 and "(left out at this width" not in "\n".join(lines)


def test_pipeline_line_names_input_network_optimiser_and_epochs() -> None:
    trial = StoredTrial(0, "complete", None, PRESETS["ststnet"], 0.5, 1683, 1.0, None, None)
    assert pipeline_line(trial) == "flow_strain · branches×conv_bn_relu · adamw lr 1e-3 · 60 ep"
    assert pipeline_line(StoredTrial(0, "complete", "ststnet", PRESETS["ststnet"], 0.5, 1683, 1.0, None, None)) == "preset ststnet"


def test_print_rows_drops_secondary_columns_before_wrapping_a_row() -> None:
    rows = [{"name": f"row {k}", "score": "0.500", "detail": "x" * 60, "note": "a long note " * 8} for k in range(3)]
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    left_out = print_rows(console, "title", rows, drop=("detail",), fill="note", fill_overflow="ellipsis")
    lines = console.file.getvalue().splitlines()
    assert left_out == ["detail"] and lines[-1] == "(left out at this width: detail)"
    assert len(lines) == 1 + 2 + 3 + 1 and all(len(line) <= 80 for line in lines)
    assert all(line.startswith(f"row {k}") and line.rstrip().endswith("…") for k, line in enumerate(lines[3:6]))


def test_print_rows_without_room_folds_cells_rather_than_cut_them() -> None:
    rows = [{"name": "a", "detail": "y" * 150}]
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    assert print_rows(console, "title", rows) == []
    assert "".join(line.strip("│ ") for line in console.file.getvalue().splitlines()).count("y") == 150
