"""Every bad input a new user tries is refused before any work: exit code 2, the option or file
named with a fix, no run directory left behind, and (for all but the checks that need them)
without importing torch, Ray or Optuna, so a refusal takes well under a second or two."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from refusal_cases import CASES, DATA, Refusal, command, manifest

from merauto.data.checks import findings as kinds
from merauto.data.datasets import DatasetRequest, load_dataset


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_at_once_naming_it_and_the_fix(case: Refusal, tmp_path: Path) -> None:
    args = case.build(tmp_path)
    started = time.perf_counter()
    result = subprocess.run(command(args), capture_output=True, text=True, env={**os.environ, "COLUMNS": "1000"}, timeout=120)
    seconds = time.perf_counter() - started
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, err
    assert "error:" in err and "fix:" in err and "Traceback" not in err, err
    for expected in case.expect:
        assert expected in err, f"{expected!r} not in: {err}"
    imported = {m for m in result.stderr.strip().splitlines()[-1].removeprefix("imported:").strip().split(",") if m}
    assert imported <= set(case.imports), f"imported {imported} before refusing"
    assert not (tmp_path / "run").exists(), "no run directory is left behind"
    assert seconds < (15 if case.imports else 5), f"{seconds:.1f} s"


@pytest.mark.parametrize("case", DATA, ids=[c.name for c in DATA])
def test_datasets_check_reports_the_same_bad_data(case: Refusal, tmp_path: Path) -> None:
    args = case.build(tmp_path)
    at = args.index("--run-dir")
    check = ["datasets", "check", *args[1:at], *args[at + 2 :]]
    result = subprocess.run(command(check), capture_output=True, text=True, env={**os.environ, "COLUMNS": "1000"}, timeout=120)
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode in (1, 2) and "Traceback" not in said, said  # 1: problems listed; 2: the dataset cannot be read at all
    for expected in case.expect:
        assert expected in said, f"{expected!r} not in: {said}"


def test_classes_declares_a_label_that_only_looks_misspelt(tmp_path: Path) -> None:
    path = manifest(tmp_path, lambda rows: rows[2].update(label="postive"))
    assert any(f.kind == kinds.SIMILAR_LABEL for f in load_dataset(DatasetRequest("manifest", manifest=path), tmp_path).errors)
    declared = DatasetRequest("manifest", manifest=path, classes="negative,positive,postive,surprise")
    loaded = load_dataset(declared, tmp_path)
    assert not loaded.errors and loaded.index.classes == ("negative", "positive", "postive", "surprise")


def test_a_class_of_one_subject_is_kept_with_a_warning_when_classes_declares_it(tmp_path: Path) -> None:
    path = manifest(tmp_path, lambda rows: rows[0].update(label="fear"))
    declared = load_dataset(DatasetRequest("manifest", manifest=path, classes="negative,positive,surprise,fear"), tmp_path)
    assert not declared.errors and "fear" in declared.index.classes
    assert [f.kind for f in declared.warnings if f.kind == kinds.LONE_CLASS] == [kinds.LONE_CLASS]
    two_subjects = manifest(tmp_path / "two", lambda rows: [rows[k].update(label="fear") for k in (0, 6)])  # s0 and s1: learnable
    assert not [f for f in load_dataset(DatasetRequest("manifest", manifest=two_subjects), tmp_path).findings if f.kind == kinds.LONE_CLASS]
