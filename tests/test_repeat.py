"""`merauto repeat` reruns the pipeline the search ran: the same inputs, preprocessing included, and the same arithmetic."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import TINY
from rich.console import Console

from merauto.cli import main
from merauto.data.cache import FeatureCache
from merauto.data.features import inputs_for
from merauto.data.sample_index import SampleIndex
from merauto.orchestrator.options import SearchOptions
from merauto.orchestrator.search import run_search
from merauto.pipeline.config import Choice
from merauto.results.repeat import repeat_trial
from merauto.results.run_dir import default_storage_url
from merauto.results.store import ResultsStore
from merauto.search_space.presets import PRESETS
from merauto.search_space.space import resolve

STSTNET = PRESETS["ststnet"]
PREPROCESSED = resolve(
    replace(
        STSTNET,
        face=Choice("haar"),
        magnification=Choice("evm", {"alpha": 8}),
        roi=Choice("grid", {"n": 2}),
        training=replace(STSTNET.training, max_epochs=2),
    )
)


@pytest.mark.slow
def test_repeat_with_the_search_seed_recomputes_the_objective_of_a_preprocessed_pipeline(
    cache_dir: Path, tiny_index: SampleIndex, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    study = optuna.create_study(storage=default_storage_url(run_dir), study_name="s", direction="maximize")
    study.enqueue_trial(PREPROCESSED.to_params())  # the search's one trial: face registration + magnification + regions
    run_search(SearchOptions(TINY, run_dir, "s", cache_dir, budget=1, max_epochs=2), Console(quiet=True))
    (searched,) = ResultsStore(run_dir).trials("s")
    assert searched.state == "complete" and searched.config == PREPROCESSED

    summary = repeat_trial(run_dir, None, 0, cache_dir, "cpu", Console(quiet=True), reproduce=True)
    assert summary.trial == searched.number and summary.records == []  # the reproduction is not stored as a repetition
    assert summary.reproduction is not None and summary.reproduction.exact
    assert summary.reproduction.recomputed == searched.objective
    (stream,) = summary.streams
    assert stream.startswith("flow: flow_strain(") and all(f"<- {step}(" in stream for step in ("haar", "evm", "grid"))

    # Without its preprocessing the pipeline reads other arrays: what repeat used to evaluate.
    plain = replace(PREPROCESSED, face=Choice("none"), magnification=Choice("none"), roi=Choice("whole"))
    cache = FeatureCache(cache_dir)
    assert not np.array_equal(inputs_for(plain, tiny_index, cache)["flow"], inputs_for(PREPROCESSED, tiny_index, cache)["flow"])


def test_repeat_needs_something_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["repeat", str(tmp_path), "--seeds", "0"]) == 2
    assert "--seeds 0 with --reproduce" in capsys.readouterr().err
