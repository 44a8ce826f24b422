"""merauto from Python (``merauto.search``, ``open_run``, ``load_pipeline``): the command line's options,
checks and errors, and DataFrames holding the numbers the commands print."""

from __future__ import annotations

import csv
import inspect
import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import random_eval_data
from torch import nn

import merauto
from merauto.cli import build_parser, main
from merauto.errors import MerautoError
from merauto.evaluator.model import build_model
from merauto.evaluator.nested import evaluate_trial
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.request import search_option_defaults
from merauto.pipeline import Choice, PipelineConfig, TrainingConfig

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "search_from_python.py"
HEAVY = ("torch", "ray", "optuna", "pandas")


def _search_parser_defaults() -> dict[str, object]:
    search = build_parser()._subparsers._group_actions[0].choices["search"]  # noqa: SLF001 - every option of merauto search
    return {a.dest: a.default for a in search._actions if a.dest != "help"}  # noqa: SLF001


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_import_merauto_loads_no_heavy_library_and_the_api_names_resolve_on_use() -> None:
    result = _fresh_python(
        "import sys, merauto\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "import merauto.api.searches, merauto.api.runs, merauto.api.pipelines\n"
        "assert merauto.search is merauto.api.searches.search and merauto.open_run is merauto.api.runs.open_run\n"
        "assert merauto.load_pipeline is merauto.api.pipelines.load_pipeline and merauto.Run is merauto.api.runs.Run\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.splitlines()
    assert before == "[]" and after == "['pandas']"  # the API's DataFrames; torch, Ray and Optuna wait for a search or a model
    assert {"search", "open_run", "Run", "load_pipeline", "Pipeline", "evaluate"} <= set(merauto.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        merauto.nothing  # noqa: B018


def test_search_takes_every_option_of_the_command_by_name_with_its_default() -> None:
    parser = _search_parser_defaults()
    assert search_option_defaults() == parser
    signature = inspect.signature(merauto.search).parameters
    named = ("dataset", "budget", "run_dir")
    assert {name: signature[name].default for name in named} == {name: parser[name] for name in named}


@pytest.mark.parametrize(
    ("options", "cli"),
    [
        ({"budget": 0}, ["--budget", "0"]),
        ({"inner": "holdout:2"}, ["--inner", "holdout:2"]),
        ({"device": "tpu"}, ["--device", "tpu"]),
        ({"time_budget": "soon"}, ["--time-budget", "soon"]),
        ({"confirm": 2, "strict": True}, ["--confirm", "2", "--strict"]),
        ({"synthetic_noise": -1.0}, ["--synthetic-noise", "-1"]),
        ({"objectives": ["uf1", "flops"]}, ["--objectives", "uf1,flops"]),
    ],
)
def test_a_bad_option_is_refused_as_the_command_refuses_it_before_any_work(
    options: dict, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    with pytest.raises(MerautoError) as refused:
        merauto.search(synthetic_size="tiny", run_dir=run_dir, cache_dir=cache, **options)
    assert main(["search", "--synthetic-size", "tiny", "--run-dir", str(run_dir), "--cache-dir", str(cache), *cli]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert refused.value.problem in said and refused.value.fix in said
    assert not run_dir.exists() and not cache.exists()


def test_a_misspelt_option_names_the_nearest_one() -> None:
    with pytest.raises(MerautoError, match="no option 'synthetic_sizes'") as refused:
        merauto.search(synthetic_sizes="tiny")
    assert "did you mean synthetic_size?" in refused.value.fix


def test_a_refusal_imports_no_torch_ray_or_optuna(tmp_path: Path) -> None:
    result = _fresh_python(
        "import sys, merauto\n"
        f"try: merauto.search(synthetic_size='tiny', budget=0, run_dir={str(tmp_path / 'run')!r})\n"
        "except merauto.errors.MerautoError as error: print(error.problem)\n"
        "print(sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))"
    )
    assert result.stdout.splitlines() == ["--budget 0: the budget is a number of trials and must be at least 1", "[]"], result.stderr


def test_a_run_refuses_what_its_command_refuses(tmp_path: Path) -> None:
    with pytest.raises(MerautoError, match="not a merauto run directory"):
        merauto.open_run(tmp_path)
    with pytest.raises(MerautoError, match="lacks pipeline.json"):
        merauto.load_pipeline(tmp_path)


class Linear(nn.Module):
    """A researcher's network: one linear layer on the flattened stream."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], n_classes: int) -> None:
        super().__init__()
        ((self.stream, shape),) = shapes.items()
        self.layer = nn.Linear(int(np.prod(shape)), n_classes)

    def forward(self, streams: dict) -> object:
        return self.layer(streams[self.stream].flatten(1))


def test_an_own_network_trains_exactly_as_the_config_network_it_wraps() -> None:
    data = random_eval_data()
    config = PipelineConfig(
        input=Choice("flow_strain"),
        topology=Choice("stacked", {"depth": 1, "width": 4, "pool": 1}),
        block=Choice("conv_bn_relu"),
        loss=Choice("cross_entropy"),
        training=TrainingConfig(max_epochs=3, batch_size=8),
    )
    searched = evaluate_trial(config, data, EvaluationSettings(seed=3))
    own = evaluate_trial(config, data, EvaluationSettings(seed=3), build=lambda shapes, n: build_model(config, shapes, n))
    assert own.objective() == searched.objective()
    for a, b in zip(own.folds, searched.folds, strict=True):
        assert a.selection.best_epoch == b.selection.best_epoch and a.test.probs == b.test.probs
    with pytest.raises(MerautoError, match="no auxiliary heads and no feature dropout"):
        evaluate_trial(replace(config, training=replace(config.training, dropout=0.5)), data, EvaluationSettings(), build=Linear)


def test_evaluate_scores_an_own_network_with_intervals_per_source(cache_dir: Path) -> None:
    scores = merauto.evaluate(Linear, synthetic_size="tiny", training={"max_epochs": 2}, resamples=100, cache_dir=cache_dir)
    (row,) = scores.to_dict("records")
    assert row["estimate"] == "your network" and row["n_params"] == 3 * 28 * 28 * 3 + 3
    for key in ("uf1", "uar", "uf1_casme2", "uf1_samm", "uf1_smic"):
        assert 0 <= row[f"{key}_low"] <= row[f"{key}_high"] <= 1 and 0 <= row[key] <= 1
    assert 0 <= row["inner_uf1"] <= 1
    for options, message in (
        ({"preset": "resnet"}, "not a literature preset"),
        ({"training": {"max_epoch": 2}}, "did you mean max_epochs?"),
        ({"synthetic_sizes": "tiny"}, "no option 'synthetic_sizes'"),
        ({"resamples": 10}, "--resamples 10"),
    ):
        with pytest.raises(MerautoError, match=message):
            merauto.evaluate(Linear, cache_dir=cache_dir, **options)


@pytest.mark.slow
def test_the_example_searches_reads_the_tables_exports_and_predicts_as_the_commands_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, "MERAUTO_CACHE": str(tmp_path / "elsewhere")}
    result = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "per-fold selection" in out and "nested estimate" in out and "leaderboard" in out and "labelled clips: UF1" in out
    assert "trial 0 complete" not in result.stdout + result.stderr  # quiet: no progress without progress=True
    assert not (tmp_path / "elsewhere").exists()  # every read and write went to the cache it was given
    run_dir, cache = tmp_path / "run", tmp_path / "cache"

    run = merauto.search(synthetic_size="tiny", budget=2, max_epochs=2, run_dir=run_dir, cache_dir=cache)  # resumes: nothing to run
    trials = run.trials()
    assert trials["number"].tolist() == [0, 1] and (trials["state"] == "complete").all() and trials["preset"].notna().all()
    assert list(trials.columns[:4]) == ["number", "state", "preset", "inner_uf1"]
    assert list(trials.columns[-2:]) == ["outer_uf1", "outer_uar"]  # outer-test scores last, named as such
    assert "params_topology" in trials.columns and "params_training.lr" in trials.columns

    def cli(*args: str) -> str:
        assert main([*args, str(run_dir)] if args[0] != "predict" else list(args)) == 0
        return capsys.readouterr().out

    def cli_table(*args: str) -> list[dict[str, str]]:
        text = cli(*args)
        return list(csv.DictReader(io.StringIO(text)))

    table = cli_table("report", "--table", "csv", "--resamples", "200")
    estimates = run.estimates(resamples=200)
    assert estimates["estimate"].tolist() == [row["estimate"] for row in table]
    for row, (_, numbers) in zip(table, estimates.iterrows(), strict=True):
        if numbers["role"].startswith("audit"):
            assert row["UF1"].startswith(f"{numbers['uf1']:.3f} (Δ {numbers['uf1_vs_nested']:+.3f} [")
            continue
        assert row["UF1"] == f"{numbers['uf1']:.3f} [{numbers['uf1_low']:.3f}, {numbers['uf1_high']:.3f}]"
        assert row["UAR"] == f"{numbers['uar']:.3f} [{numbers['uar_low']:.3f}, {numbers['uar_high']:.3f}]"
        assert row["UF1 casme2"] == f"{numbers['uf1_casme2']:.3f} [{numbers['uf1_casme2_low']:.3f}, {numbers['uf1_casme2_high']:.3f}]"

    leaderboard = run.leaderboard()
    from merauto.results.report.summary import build_report, leaderboard_rows

    rows = leaderboard_rows(build_report(run_dir))
    assert [str(n) for n in leaderboard["trial"]] == [r["trial"] for r in rows]
    assert [f"{v:.3f}" for v in leaderboard["inner_uf1"]] == [r["inner UF1"] for r in rows]
    assert [f"{v:.3f}" for v in leaderboard["outer_uf1"]] == [r["outer UF1"] for r in rows]
    assert leaderboard.index.tolist() == [1, 2] and leaderboard["inner_uf1"].is_monotonic_decreasing
    assert trials.set_index("number").loc[leaderboard["trial"], "inner_uf1"].tolist() == leaderboard["inner_uf1"].tolist()

    from merauto.results.audit import load_audit, protocol_rows
    from merauto.results.ensemble import ensemble_rows, load_ensembles

    audit = run.audit(resamples=200)
    assert "what each protocol would report" in cli("audit", "--resamples", "200")
    assert audit.loc[0, "protocol"] == "nested (per-fold selection)" and pd.isna(audit.loc[0, "uf1_vs_nested"])
    for row, (_, p) in zip(protocol_rows(load_audit(run_dir, 200)), audit.iterrows(), strict=True):  # what merauto audit prints
        assert row["protocol"] == p["protocol"] and row["UF1"] == ("-" if pd.isna(p["uf1"]) else f"{p['uf1']:.3f}")
        if not pd.isna(p["uf1_vs_nested"]):
            low, high = p["uf1_vs_nested_low"], p["uf1_vs_nested_high"]
            assert row["ΔUF1 vs nested [95% CI]"] == f"{p['uf1_vs_nested']:+.3f} [{low:+.3f}, {high:+.3f}]"

    ensemble = run.ensemble(size=5, resamples=200)
    assert "ensembles of the search's trials" in cli("ensemble", "--size", "5", "--resamples", "200")
    assert ensemble["ensemble"].tolist() == ["per-fold ensemble", "global ensemble"]
    printed = ensemble_rows(load_ensembles(run_dir, 5, 200))  # what merauto ensemble prints
    for row, (_, e) in zip(printed, ensemble.iterrows(), strict=True):
        assert row["UF1 [95% CI]"] == f"{e['uf1']:.3f} [{e['uf1_low']:.3f}, {e['uf1_high']:.3f}]"
        assert row["Δ UF1 [95% CI]"] == f"{e['uf1_vs_single']:.3f} [{e['uf1_vs_single_low']:.3f}, {e['uf1_vs_single_high']:.3f}]"

    html = run.report(tmp_path / "page.html")
    assert html == tmp_path / "page.html" and "Leaderboard" in html.read_text()

    (export,) = (run_dir / "export").iterdir()  # the example's export
    pipeline = merauto.load_pipeline(export, cache_dir=cache)
    manifest = next((cache / "synthetic").glob("tiny-*/manifest.csv"))
    clips = [str(manifest.parent / line.split(",")[3]) for line in manifest.read_text().splitlines()[1:4]]
    predictions = pipeline.predict(clips)
    printed = cli_table("predict", str(export), *clips, "--cache-dir", str(cache))
    assert predictions["clip"].tolist() == [r["clip"] for r in printed] and predictions["label"].tolist() == [r["label"] for r in printed]
    for c in pipeline.classes:
        assert [f"{p:.4f}" for p in predictions[f"p_{c}"]] == [r[f"p_{c}"] for r in printed]
    assert pipeline.score(predictions) is None  # folders carry no label
