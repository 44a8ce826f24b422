"""`merauto audit`: what each common protocol would report, recomputed from stored predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from commands import TINY, merauto

from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.evaluator.metrics import uf1
from merauto.evaluator.nested import FoldOutcome, FoldSelection, FoldTest, TrialOutcome
from merauto.evaluator.settings import EvaluationSettings
from merauto.results.audit import ALL_SOURCES, NESTED, audit_study, best_test_epoch_predictions, load_audit, protocol_rows
from merauto.results.run_dir import RunInfo
from merauto.results.store import StoredTrial

CLASSES = ("negative", "positive", "surprise")
TRUTH = [0, 1, 2, 0]  # each of the four subjects (one outer fold each) has four clips


def _trial(number: int, inner: float, nested: list[int], curve: list[list[int]] | None, preset: str | None = None) -> StoredTrial:
    """A complete trial whose every fold has inner UF1 ``inner``, test predictions ``nested`` and
    per-epoch test predictions ``curve`` (None: searched without --audit)."""
    folds = []
    for k, subject in enumerate(["s1", "s2", "s3", "s4"]):
        selection = FoldSelection(k, subject, [inner], 1, [], [], [], inner, inner, [])
        ids = [f"{subject}-{i}" for i in range(4)]
        source = "casme2" if k < 2 else "samm"
        test = FoldTest(k, subject, ids, [subject] * 4, [source] * 4, TRUTH, nested, [[1.0, 0.0, 0.0]] * 4, curve)
        folds.append(FoldOutcome(selection, test, 1.0))
    outcome = TrialOutcome(CLASSES, folds)
    return StoredTrial(number, "complete", preset, None, outcome.objective(), 10, 1.0, None, outcome)


WRONG, HALF, RIGHT = [1, 2, 0, 1], [0, 1, 0, 1], TRUTH
SELECTED = _trial(0, 0.9, HALF, [WRONG, RIGHT, HALF, WRONG], preset="ststnet")  # best inner score; its test curve peaks at epoch 2
GRID_BEST = _trial(1, 0.5, RIGHT, [WRONG, WRONG, RIGHT])  # worse inner score, perfect test predictions


def _by_name(audit) -> dict:  # noqa: ANN001
    return {p.name: p for p in audit.protocols}


def test_each_protocol_reads_what_it_names() -> None:
    audit = audit_study([SELECTED, GRID_BEST], n_resamples=200)
    rows = _by_name(audit)
    assert list(rows) == [NESTED, "global selection", "last epoch", "best test epoch per subject", "best trial by test score", "both leaks"]
    honest = uf1(np.array(TRUTH * 4), np.array(HALF * 4), 3)
    assert rows[NESTED].uf1[ALL_SOURCES] == pytest.approx(honest)  # per fold, trial 0's inner score is the better one
    assert rows["global selection"].uf1[ALL_SOURCES] == pytest.approx(honest)
    assert rows["last epoch"].uf1[ALL_SOURCES] == pytest.approx(uf1(np.array(TRUTH * 4), np.array(WRONG * 4), 3))
    assert rows["best test epoch per subject"].uf1[ALL_SOURCES] == 1.0  # the test subject picked epoch 2
    assert rows["best trial by test score"].uf1[ALL_SOURCES] == 1.0 and "trial 1 of 2" in rows["best trial by test score"].description
    assert rows["both leaks"].uf1[ALL_SOURCES] == 1.0 and "trial 0" in rows["both leaks"].description  # tie: the earlier trial
    inflated = rows["best test epoch per subject"].uf1_difference[ALL_SOURCES]
    assert inflated.value == pytest.approx(1.0 - honest) and inflated.low <= inflated.value <= inflated.high
    assert rows[NESTED].uf1_difference[ALL_SOURCES].value == 0.0
    assert set(rows[NESTED].uf1) == {ALL_SOURCES, "casme2", "samm"}
    (candidate,) = audit.candidates  # the selected trial; it is also the only preset
    assert candidate.label == "selected pipeline (preset ststnet)"
    assert [p.uf1[ALL_SOURCES] for p in candidate.protocols][2] == 1.0


def test_the_best_test_epoch_is_the_earliest_of_equally_good_ones() -> None:
    trial = _trial(0, 0.5, HALF, [HALF, RIGHT, RIGHT])
    for predictions in best_test_epoch_predictions(trial).values():
        assert predictions.tolist() == RIGHT
    tied = _trial(0, 0.5, HALF, [[0, 2, 2, 2], [0, 1, 0, 1]])  # 2 correct each: epoch 1 is kept
    assert next(iter(best_test_epoch_predictions(tied).values())).tolist() == [0, 2, 2, 2]


def test_without_curves_the_epoch_protocols_say_how_to_record_them() -> None:
    audit = audit_study([_trial(0, 0.9, HALF, None), _trial(1, 0.5, RIGHT, None)], n_resamples=100)
    assert not audit.recorded and audit.candidates == []
    assert [u.name for u in audit.unavailable] == ["last epoch", "best test epoch per subject", "both leaks"]
    rows = protocol_rows(audit)
    assert any(r["protocol"] == "last epoch" and "--audit" in r["how"] for r in rows)
    assert audit_study([]) is None


@pytest.mark.slow
def test_search_with_audit_then_merauto_audit_and_the_report(tmp_path: Path, cache_dir: Path) -> None:
    """--audit records curves in the results store only: Optuna holds the same kind of values as without it."""
    run_dir, cache = tmp_path / "run", cache_dir
    merauto("search", *TINY, "--budget", "2", "--seed-presets", "--audit", "--run-dir", str(run_dir), cache=cache)
    assert json.loads((run_dir / "merauto.json").read_text())["audit"] is True

    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    for trial in study.trials:  # nothing of the curves reached the sampler's storage
        assert "curve" not in json.dumps(trial.user_attrs) and "curve" not in json.dumps(trial.system_attrs)

    audited = merauto("audit", str(run_dir), "--resamples", "200", cache=cache).stdout
    for protocol in ("nested (per-fold selection)", "last epoch", "best test epoch per subject", "best trial by test score", "both leaks"):
        assert protocol in audited
    assert "preset ststnet" in audited  # the per-candidate table

    merauto("report", str(run_dir), "--explain", cache=cache)
    html = (run_dir / "report.html").read_text()
    assert "Protocol audit" in html and "inflation of each protocol" in html and "where each class" in html
    assert 'class="headline"' in html and "nested estimate (per-fold selection)" in html and "Selected pipeline (trial" in html
    assert (run_dir / "export").is_dir()  # --explain exported the selected pipeline first

    table = merauto("report", str(run_dir), "--table", "markdown", "--resamples", "200", cache=cache).stdout.splitlines()
    assert table[0].startswith("| estimate | role | UF1 | UAR |") and table[2].startswith("| per-fold selection | nested estimate |")
    assert any(line.startswith("| preset ststnet | reference") for line in table)
    assert any(line.startswith("| best test epoch per subject | audit") for line in table)  # the audit's rows, recorded with --audit

    refused = merauto("search", *TINY, "--budget", "3", "--seed-presets", "--run-dir", str(run_dir), cache=cache, check=False)
    assert refused.returncode == 2 and "audit" in refused.stderr  # the audit setting is part of the study's protocol


def test_audit_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    missing = merauto("audit", str(tmp_path), cache=tmp_path / "cache", check=False)
    assert missing.returncode == 2 and "not a merauto run directory" in missing.stderr
    few = merauto("audit", str(tmp_path), "--resamples", "10", cache=tmp_path / "cache", check=False)
    assert few.returncode == 2 and "--resamples 10" in few.stderr and "at least 100" in few.stderr

    run = tmp_path / "run"
    run.mkdir()
    RunInfo("empty", f"sqlite:///{run}/study.db", DatasetRequest("synthetic"), EvaluationSettings()).save(run)
    with pytest.raises(MerautoError, match="no trial evaluated on every outer fold"):
        load_audit(run)
    RunInfo("empty", f"sqlite:///{run}/study.db", DatasetRequest("synthetic"), EvaluationSettings(), strict=True).save(run)
    with pytest.raises(MerautoError, match="strict run"):
        load_audit(run)
