"""`merauto prepare` fills the cache ahead of a search; a second run computes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from merauto.cli import main
from merauto.data.inputs import INPUTS
from merauto.orchestrator.prepare import space_streams
from merauto.search_space.space import SpaceContext

TINY = ["--synthetic-size", "tiny"]


def test_a_second_prepare_computes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prepare", *TINY, "--cache-dir", str(tmp_path), "--inputs", "flow_strain,apex,landmark_graph"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    total = lambda text: [int(v) for v in next(line for line in text.splitlines() if "total" in line).split() if v.isdigit()]  # noqa: E731
    computed, cached = total(first)
    assert computed > 0 and cached == 0
    again_computed, again_cached = total(second)
    assert again_computed == 0 and again_cached == computed


def test_bad_prepare_options_fail_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--space", "everything"], ["--inputs", "optical-flow"]):
        assert main(["prepare", *TINY, "--cache-dir", str(tmp_path / "cache"), *args]) == 2
        err = capsys.readouterr().err
        assert args[0].lstrip("-") in err and "fix:" in err
    assert not (tmp_path / "cache").exists(), "no data is generated before the options are checked"


def test_the_full_space_holds_every_input_and_preprocessing_choice() -> None:
    specs = space_streams("full", SpaceContext(landmarks=True))
    kinds = {spec.kind for spec in specs}
    assert kinds == {spec.kind for kind in INPUTS for spec in kind.streams(kind.resolve({})).values()}
    steps = {(slot, name) for spec in specs for slot, name, _ in spec.upstream}
    assert {("face", "haar"), ("magnification", "evm"), ("roi", "grid"), ("roi", "eyes_mouth"), ("roi", "mask_eyes")} <= steps
    assert ("roi", "landmark_patches") in steps
    assert ("roi", "landmark_patches") not in {(s, n) for spec in space_streams("full", SpaceContext()) for s, n, _ in spec.upstream}
    assert len(space_streams("defaults", SpaceContext())) < len(specs)
