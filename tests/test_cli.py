"""The command line, as a user runs it: bad input fails fast; search, resume, report, export, dashboard.

Commands run through ``merauto.cli.main`` in this process (``commands.merauto``); a real process where
only a process shows what is tested: the first search's piped output, Ctrl-C, the dashboard server."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from commands import LIVE, TINY, TINY_ANY_CONCURRENCY, dashboard, merauto, merauto_process, poll_json
from sklearn.metrics import f1_score

from merauto.cli import build_parser, main
from merauto.data.cache import FeatureCache
from merauto.data.clip_list import NewClip
from merauto.results.export.pipeline import ExportedPipeline
from merauto.results.selection import per_fold_selection, selected_trial
from merauto.results.store import ResultsStore


def _complete(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


def test_help_lists_every_command_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("search", "datasets", "report", "export", "predict", "space", "dashboard"):
        assert command in out
    parsers = list(build_parser()._subparsers._group_actions[0].choices.values())  # noqa: SLF001 - walk every option
    while parsers:
        action = parsers.pop()
        for option in action._actions:  # noqa: SLF001
            assert option.help, f"{action.prog} {option.dest} has no help text"
            parsers.extend((option.choices or {}).values() if isinstance(option, argparse._SubParsersAction) else [])  # noqa: SLF001


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--dataset", "casme9"], "--dataset"),
        (["--budget", "0"], "--budget"),
        (["--trial-timeout", "0"], "--trial-timeout"),
        (["--storage", "sqlite:////nonexistent/dir/study.db"], "--storage"),
        (["--storage", "nosuchdb://host/db"], "--storage"),
        (["--inner", "holdout:2"], "--inner"),
        (["--device", "tpu"], "--device"),
        (["--amp", "--device", "cpu"], "--amp"),
    ],
)
def test_bad_input_fails_at_once_naming_the_option(args: list[str], names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    code = main(["search", *TINY, "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "cache"), *args])
    err = capsys.readouterr().err
    assert code == 2 and names in err and "fix:" in err
    assert time.perf_counter() - started < 10
    assert not run_dir.exists(), "nothing half-written is left behind"
    assert not (tmp_path / "cache").exists(), "no data is generated before the options are checked"


def test_space_prints_every_slot_option_and_range_with_its_number_of_choices(capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.evaluator.blocks import BLOCKS
    from merauto.evaluator.optim import OPTIMISERS, SCHEDULES
    from merauto.evaluator.temporal import TEMPORAL_TRUNKS
    from merauto.evaluator.vector_trunks import VECTOR_TRUNKS

    assert main(["space"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert f"block ({len(BLOCKS.names())} choices)" in out and "training (7 hyper-parameters and 3 components)" in out
    for registry in (BLOCKS, OPTIMISERS, SCHEDULES, VECTOR_TRUNKS, TEMPORAL_TRUNKS):  # every registered component is shown
        assert all(f"{name} (" in out for name in registry.names()), registry.slot
    assert f"optimiser ({len(OPTIMISERS.names())} choices)" in out and f"schedule ({len(SCHEDULES.names())} choices)" in out
    assert "vector_trunk (3 choices; chosen in the parameters of an input" in out and "temporal (5 choices;" in out
    assert "sgd (1 hyper-parameter)" in out and "lr: 0.001-0.1 log (continuous)" in out
    assert "gcn_layers when vector_trunk=gcn: 1-2 (2 choices)" in out  # the trunk's own parameter, under an input with a graph
    assert "steps: 1-3 (3 choices)" in out and "gamma when adaptive=False: 0.5-4 (continuous)" in out


def test_space_sample_prints_seeded_configs_as_summaries_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.pipeline.config import PipelineConfig

    assert main(["space", "--sample", "4", "--seed", "3", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    configs = [PipelineConfig.from_json(line) for line in lines]
    assert len(configs) == 4
    assert main(["space", "--sample", "4", "--seed", "3"]) == 0
    assert capsys.readouterr().out.splitlines() == [c.summary() for c in configs]
    assert main(["space", "--sample", "0"]) == 2
    assert "--sample 0" in capsys.readouterr().err


def test_unwritable_run_dir_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["search", *TINY, "--run-dir", str(blocker / "run"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "--run-dir" in err and "fix:" in err


@pytest.mark.slow
def test_search_report_export_predict_dashboard(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *TINY, "--budget", "2", "--seed-presets", "--run-dir", str(run_dir)]
    # a fresh interpreter writing to a pipe, as a batch job runs it, with as many trials at a time as cores
    first = merauto_process("search", *TINY_ANY_CONCURRENCY, "--budget", "2", "--seed-presets", "--run-dir", str(run_dir), cache=cache)
    # Output to a pipe, as in a batch job's log: one plain line per finished trial, with counts, the best and an ETA.
    line = r"\d\d:\d\d:\d\d trial [01] complete, inner UF1 0\.\d{3} \| 1/2 done, . running; best inner UF1 0\.\d{3}; eta "
    assert re.search(line, first.stderr), first.stderr

    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{run_dir}/study.db")
    assert len(study.trials) == 2 and study.trials[0].user_attrs["preset"] == "ststnet"
    complete = _complete(run_dir)
    assert complete and all({"outer_uf1", "outer_uar", "config"} <= set(t.user_attrs) for t in complete)
    assert (run_dir / "report.html").read_text().count("plotly") > 10

    report = merauto("report", str(run_dir), cache=cache)
    assert "leaderboard" in report.stdout and "per-fold selection" in report.stdout
    assert "cost model: predicted training time" in report.stdout
    labelled = {row.name: row for row in ResultsStore(run_dir).selections("synthetic-tiny")}
    assert {"global selection", "per-fold selection", "preset ststnet"} <= set(labelled)
    nested = labelled["per-fold selection"]
    assert len(nested.fold_trials) == 6
    expected = per_fold_selection(ResultsStore(run_dir).trials("synthetic-tiny"))
    assert {int(k): v for k, v in nested.fold_trials.items()} == expected.fold_trials
    by_sklearn = f1_score(expected.y_true, expected.y_pred, average="macro", labels=[0, 1, 2], zero_division=0)
    assert nested.scores["uf1"] == pytest.approx(by_sklearn)
    # both trials are candidates: the report and merauto ensemble show ensembles chosen on inner validation
    assert {"per-fold ensemble", "global ensemble"} <= set(labelled) and "ensembles of the search's trials" in report.stdout
    assert "Ensembles of the search's trials" in (run_dir / "report.html").read_text()
    members = labelled["per-fold ensemble"].fold_trials
    assert len(members) == 6 and all(set(m) <= {"0", "1"} for m in members.values())
    ensemble = merauto("ensemble", str(run_dir), "--size", "5", "--resamples", "200", cache=cache)
    assert "per-fold ensemble" in ensemble.stdout and "Δ UF1" in ensemble.stdout

    # Same command again: the budget is reached, nothing runs, nothing is duplicated.
    again = merauto(*search, cache=cache)
    assert "nothing to run" in again.stderr
    # A larger budget resumes the same study.
    merauto("search", *TINY, "--budget", "3", "--seed-presets", "--run-dir", str(run_dir), cache=cache)
    numbers = [t.number for t in ResultsStore(run_dir).trials("synthetic-tiny")]
    assert numbers == [0, 1, 2]
    # A new search learns from this one's trials: recorded on its study, not counted as its trials.
    warm_dir = tmp_path / "warm"
    warm = merauto(
        "search", *TINY, "--budget", "1", "--seed", "1", "--warm-start", str(run_dir), "--run-dir", str(warm_dir), "--confirm", "1",
        "--confirm-seeds", "1", cache=cache,
    )  # fmt: skip
    assert "the sampler learns from 3 finished trials" in warm.stderr
    study = optuna.load_study(study_name="synthetic-tiny", storage=f"sqlite:///{warm_dir}/study.db")
    assert len(study.trials) == 1 and study.user_attrs["warm_start"]["trials"] == 3
    # --confirm ran after the search: its one trial rerun over one new seed, and the report says how it was selected
    assert "confirming 1 trials" in warm.stderr
    selections = {row.name: row for row in ResultsStore(warm_dir).selections("synthetic-tiny")}
    assert "merauto confirm re-evaluated" in selections["global selection"].description
    (confirmed,) = ResultsStore(warm_dir).trials("synthetic-tiny")
    assert confirmed.confirmed and len(confirmed.repeat_inner) == 1

    repeated = merauto("repeat", str(run_dir), "--seeds", "2", cache=cache)
    assert "outer_uf1:" in repeated.stdout and "over 2 seeds" in repeated.stdout
    # confirm: the best trial (already repeated over those seeds) and the presets over 2 new seeds each
    selected_before = selected_trial(ResultsStore(run_dir).trials("synthetic-tiny")).number
    confirmed = merauto("confirm", str(run_dir), "--top", "1", "--seeds", "2", cache=cache)
    assert re.search(r"selected trial \d .*mean inner UF1 0\.\d{3} over 3 seeds", confirmed.stdout), confirmed.stdout
    assert "confirming 3 trials" in confirmed.stderr and "4 nested evaluations run for 3 trials" in confirmed.stdout
    trials = ResultsStore(run_dir).trials("synthetic-tiny")
    assert all(t.confirmed and len(t.repeat_inner) == 2 for t in trials) and selected_before in {t.number for t in trials}
    after = merauto("report", str(run_dir), cache=cache).stdout
    assert "trials rerun over new seeds" in after and "confirmed per-fold selection" in after
    assert "Trials rerun over new seeds" in (run_dir / "report.html").read_text()

    merauto("export", str(run_dir), cache=cache)
    (export_dir,) = (run_dir / "export").iterdir()
    pipeline = ExportedPipeline.load(export_dir)
    provenance = json.loads((export_dir / "pipeline.json").read_text())["provenance"]
    assert "merauto confirm" in provenance["selection"] and provenance["repeated"]["seeds"] == 2
    manifest = next((cache / "synthetic").glob("tiny-*/manifest.csv"))
    clips = [manifest.parent / line.split(",")[3] for line in manifest.read_text().splitlines()[1:3]]
    predicted = merauto("predict", str(export_dir), *map(str, clips), cache=cache)
    rows = predicted.stdout.strip().splitlines()
    assert rows[0].startswith("clip,label") and len(rows) == 3
    assert all(row.split(",")[1] in pipeline.classes for row in rows[1:])
    assert sorted(p.name for p in export_dir.iterdir()) == ["model.onnx", "model.safetensors", "pipeline.json", "preprocessing.json"]
    check = pipeline.metadata["onnx"]["verification"]
    assert check["clips"] == pipeline.metadata["trained_on"]["clips"] and check["max_abs_difference"] <= check["atol"]
    by_onnx = merauto("predict", str(export_dir), *map(str, clips), "--runtime", "onnx", cache=cache)
    assert [r.split(",")[1] for r in by_onnx.stdout.strip().splitlines()] == [r.split(",")[1] for r in rows]

    # The global ensemble: each member refit and exported whole, predictions averaged with the members' weights.
    merauto("export", str(run_dir), "--ensemble", "--size", "5", cache=cache)
    ensemble_dir = run_dir / "export" / "ensemble"
    members = json.loads((ensemble_dir / "ensemble.json").read_text())["members"]
    assert members and all((ensemble_dir / m["folder"] / "model.onnx").is_file() for m in members)
    by_ensemble = merauto("predict", str(ensemble_dir), *map(str, clips), "--runtime", "onnx", cache=cache)
    averaged = np.array([[float(x) for x in row.split(",")[2:]] for row in by_ensemble.stdout.strip().splitlines()[1:]])
    new_clips, features = [NewClip(c) for c in clips], FeatureCache(cache)
    each = [ExportedPipeline.load(ensemble_dir / m["folder"]).predict_clips(new_clips, features) for m in members]
    each = [np.array([p for _, _, p in rows]) for rows in each]
    expected = sum(m["weight"] * probs for m, probs in zip(members, each, strict=True)) / sum(m["weight"] for m in members)
    assert np.abs(averaged - expected).max() < 1e-3

    with dashboard(run_dir) as url:
        studies = poll_json(f"{url}/api/studies")
        assert [s["study_name"] for s in studies["study_summaries"]] == ["synthetic-tiny"]


@pytest.mark.slow
def test_interrupted_search_resumes_to_the_budget_without_duplicates(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    search = ["search", *LIVE, "--budget", "4", "--run-dir", str(run_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "merauto", *search],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MERAUTO_CACHE": str(cache)},
    )
    deadline = time.time() + 240
    while time.time() < deadline and _count_complete(run_dir / "study.db") < 1:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    interrupted = _count_complete(run_dir / "study.db")
    assert 1 <= interrupted < 4

    resumed = merauto(*search, cache=cache)
    assert "4/4 trials finished" in resumed.stderr
    complete = _complete(run_dir)
    assert len(complete) == 4 and len({t.number for t in complete}) == 4
    assert [t.number for t in ResultsStore(run_dir).trials("synthetic-tiny")] == sorted(t.number for t in complete)


def _count_complete(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # the study's tables do not exist yet
        return 0


@pytest.mark.slow
def test_strict_mode_runs_an_independent_study_per_fold(tmp_path: Path, cache_dir: Path) -> None:
    run_dir, cache = tmp_path / "run", cache_dir
    strict = ["search", *TINY, "--budget", "1", "--strict", "--outer", "kfold:2", "--seed-presets", "--run-dir", str(run_dir)]
    merauto(*strict, cache=cache)  # two outer folds (subject-grouped): two fold studies
    names = optuna.get_all_study_names(f"sqlite:///{run_dir}/study.db")
    assert sorted(names) == [f"synthetic-tiny.fold{k:03d}" for k in range(2)]
    for name in names:
        (trial,) = optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir}/study.db").trials
        assert trial.user_attrs["folds_done"] == 1, "a fold's study only ever scores its own fold"
    report = merauto("report", str(run_dir), cache=cache)
    assert "strict selection" in report.stdout and "best trial of each fold" in report.stdout
    strict_report = (run_dir / "report.html").read_text()
    assert "not available for strict runs" in strict_report and "No explanation maps: strict runs" in strict_report
    audit = merauto("audit", str(run_dir), cache=cache, check=False)
    assert audit.returncode == 2 and "strict run" in audit.stderr
    refused = merauto("export", str(run_dir), cache=cache, check=False)
    assert refused.returncode == 2 and "--fold" in refused.stderr
    merauto("export", str(run_dir), "--fold", "1", cache=cache)
    assert (run_dir / "export" / "fold001-trial-0" / "model.safetensors").is_file()
