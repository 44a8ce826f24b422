"""A resume refused for its settings names only those that differ, as options with both values, and what to pass instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.errors import MerautoError
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.settings_diff import check_resumable, dataset_differences, run_settings, setting_differences
from merauto.pipeline.objectives import CostLimits
from merauto.results.run_dir import RunInfo, default_storage_url

TINY = DatasetRequest("synthetic", SyntheticSpec(size="tiny"))


def _info(run_dir: Path, **changes: object) -> RunInfo:
    return replace(RunInfo("synthetic-tiny", default_storage_url(run_dir), TINY, EvaluationSettings(), max_epochs=3), **changes)


def test_one_setting_left_out_is_the_one_named(tmp_path: Path) -> None:
    _info(tmp_path).save(tmp_path)
    with pytest.raises(MerautoError) as refused:
        check_resumable(tmp_path, _info(tmp_path, max_epochs=80))
    lines = refused.value.problem.splitlines()
    assert lines[1:] == ["  - --max-epochs: the run has 3, this command 80"], lines
    assert refused.value.fix.startswith("to resume it, pass --max-epochs 3; or start a new run in another --run-dir")
    assert check_resumable(tmp_path, _info(tmp_path)) == _info(tmp_path)  # the same settings resume


def test_flags_datasets_and_unset_limits_say_what_to_pass_or_drop(tmp_path: Path) -> None:
    run = _info(tmp_path, objectives=("uf1", "params"), limits=CostLimits(max_params=4000))
    asked = _info(
        tmp_path, dataset=DatasetRequest("synthetic", SyntheticSpec(size="small")), evaluation=EvaluationSettings(refit=False, audit=True)
    )
    said, passes = setting_differences(run_settings(run), run_settings(asked))
    assert said == [
        "--synthetic-size: the run has tiny, this command small",
        "--refit: the run has --refit, this command --no-refit",
        "--objectives: the run has uf1,params, this command uf1",
        "--max-params: the run has 4000, this command none",
        "--audit: the run has no --audit, this command --audit",
    ]
    assert passes == ["--synthetic-size tiny", "--refit", "--objectives uf1,params", "--max-params 4000", "no --audit"]


def test_dataset_differences_leave_out_where_the_data_lies(tmp_path: Path) -> None:
    assert dataset_differences(TINY, DatasetRequest("synthetic", SyntheticSpec(size="tiny", seed=3))) == ["--synthetic-seed 0 -> 3"]
    assert dataset_differences(DatasetRequest("casme2", data_root=tmp_path), DatasetRequest("casme2", data_root=tmp_path.parent)) == []
