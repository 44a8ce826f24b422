"""Bad copies of the licensed datasets fail before any training, naming the file and the fix;
`merauto datasets check` reports counts and problems; no data configured says what to do."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import optuna
import pytest
from commands import merauto
from native_layouts import CASME2_SHEET, SAMM_SHEET, Clip, composite_clips, write_casme2, write_samm, write_smic
from openpyxl import load_workbook

from merauto.cli import main
from merauto.data.checks import findings as kinds
from merauto.data.datasets import DatasetRequest, load_dataset, validate_dataset
from merauto.data.locations import DATA_ROOT_ENV
from merauto.errors import MerautoError


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages are printed on one line each, so file names can be found in them."""
    monkeypatch.setenv("COLUMNS", "1000")


def _clips(dataset: str, n: int) -> list[Clip]:
    """The first ``n`` clips of ``dataset``, then the first clip of two more subjects (an evaluable
    dataset needs three), so that the first ``n`` keep their rows in the coding sheet."""
    clips = [c for c in composite_clips() if c.dataset == dataset]
    first = clips[:n]
    others = {c.subject: c for c in reversed(clips) if c.subject not in {f.subject for f in first}}
    return first + [others[s] for s in sorted(others)[:2]]


def _set_cell(sheet: Path, header: str, row: int, value: object) -> None:
    """Write ``value`` under column ``header`` in data row ``row`` (0-based) of an xlsx coding sheet."""
    workbook = load_workbook(sheet)
    table = workbook.active
    rows = list(table.iter_rows())
    header_row = next(i for i, r in enumerate(rows) if header in [c.value for c in r])
    column = [c.value for c in rows[header_row]].index(header)
    rows[header_row + 1 + row][column].value = value
    workbook.save(sheet)


def _search_fails_at_once(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    code = main(["search", *args, "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "fix:" in err, err
    assert time.perf_counter() - started < 20 and not run_dir.exists()
    return " ".join(err.split())  # unwrapped


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_corrupt_frames_are_errors_naming_the_file(damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = write_casme2(tmp_path / "data", _clips("casme2", 3))
    victim = sorted((frames / "sub01" / "EP02_01f").iterdir())[1]
    data = victim.read_bytes()
    victim.write_bytes({"garbage": b"not an image at all", "empty": b"", "truncated": data[:-8]}[damage])
    loaded = validate_dataset(DatasetRequest("casme2", data_root=tmp_path / "data", classes="3"), tmp_path)
    (error,) = loaded.errors
    assert error.kind == kinds.UNREADABLE_FRAME and str(victim) in error.message and error.sample == "casme2/sub01/EP02_01f"
    assert {"garbage": "not a decodable", "empty": "is empty", "truncated": "not a decodable"}[damage] in error.message
    assert len(loaded.index) == 4  # the damaged clip is left out
    err = _search_fails_at_once(["--dataset", "casme2", "--classes", "3", "--data-root", str(tmp_path / "data")], tmp_path, capsys)
    assert str(victim) in err and "replace the file" in err


def test_missing_sample_folder_fails_check_and_search(native_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    shutil.copytree(native_root, root)
    missing = root / "SAMM" / "006" / "006_1_2"
    shutil.rmtree(missing)
    assert main(["datasets", "check", "--dataset", "composite", "--data-root", str(root)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "missing folder: 1" in out and str(missing) in out and "132/133" in out and "441/442" in out
    err = _search_fails_at_once(["--dataset", "composite", "--data-root", str(root)], tmp_path, capsys)
    assert f"frame folder {missing} does not exist" in err and "restore the sample's folder" in err


def test_renamed_column_names_the_sheet_and_the_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_samm(tmp_path / "data", _clips("samm", 3))
    sheet = tmp_path / "data" / "SAMM" / SAMM_SHEET
    workbook = load_workbook(sheet)
    for row in workbook.active.iter_rows():
        for cell in row:
            if cell.value == "Apex Frame":
                cell.value = "Peak"
    workbook.save(sheet)
    with pytest.raises(MerautoError, match="lacks ApexFrame") as error:
        load_dataset(DatasetRequest("samm", data_root=tmp_path / "data"), tmp_path)
    assert str(sheet) in str(error.value) and "row 14" in str(error.value) and "Peak" in str(error.value)
    err = _search_fails_at_once(["--dataset", "samm", "--data-root", str(tmp_path / "data")], tmp_path, capsys)
    assert "restore the original column names" in err


def test_apex_outside_the_clip_is_estimated_with_a_warning(tmp_path: Path) -> None:
    write_casme2(tmp_path, _clips("casme2", 2))
    sheet = tmp_path / "CASME2" / CASME2_SHEET
    offset = load_workbook(sheet).active.cell(row=2, column=6).value
    _set_cell(sheet, "ApexFrame", 0, offset + 50)
    loaded = validate_dataset(DatasetRequest("casme2", data_root=tmp_path, classes="all"), tmp_path / "cache")
    (warning,) = [f for f in loaded.findings if f.kind == kinds.ESTIMATED_APEX and f.sample == "casme2/sub01/EP02_01f"]
    assert f"apex frame {offset + 50} lies outside the clip" in warning.message and f"{CASME2_SHEET}, row 2" in warning.message
    assert not loaded.errors and loaded.index.samples[loaded.index.position(warning.sample)].apex is None


def test_offset_before_onset_is_an_error(tmp_path: Path) -> None:
    write_casme2(tmp_path, _clips("casme2", 2))
    sheet = tmp_path / "CASME2" / CASME2_SHEET
    _set_cell(sheet, "OffsetFrame", 1, 1)
    (error,) = load_dataset(DatasetRequest("casme2", data_root=tmp_path, classes="all"), tmp_path).errors
    assert error.kind == kinds.BAD_RANGE and f"{CASME2_SHEET}, row 3" in error.message


def test_without_data_search_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    err = _search_fails_at_once(["--dataset", "composite"], tmp_path, capsys)
    for needed in ("licensed", "CASME2_RAW_selected", "SAMM_Micro_FACS_Codes", "HS", "--data-root", DATA_ROOT_ENV, "--dataset synthetic"):
        assert needed in err, needed
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _search_fails_at_once(["--dataset", "composite", "--data-root", str(empty)], tmp_path, capsys)
    assert f"CASME II not found under data root {empty}" in err and "[casme2] frames" in err


def test_bad_data_config_names_the_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "data.toml"
    config.write_text('[casme2]\nframes = "."\nsheet = "x.xlsx"\n')
    err = _search_fails_at_once(["--dataset", "casme2", "--data-config", str(config)], tmp_path, capsys)
    assert str(config) in err and "sheet" in err and "frames, coding" in err
    config.write_text('[smic]\nframes = "nowhere"\n')
    err = _search_fails_at_once(["--dataset", "smic", "--data-config", str(config)], tmp_path, capsys)
    assert "[smic] frames = 'nowhere' does not exist" in err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--dataset", "casme2", "--classes", "7"], "--classes"),
        (["--dataset", "synthetic", "--classes", "5"], "--classes"),
        (["--dataset", "smic", "--features", "."], "--features"),
        (["--dataset", "composite", "--features", "/nonexistent"], "--features"),
        (["--dataset", "composite", "--data-root", "/nonexistent"], "--data-root"),
    ],
)
def test_bad_dataset_options_name_the_option(args: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert option in _search_fails_at_once(args, tmp_path, capsys)


def test_datasets_check_reports_the_composite(native_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "check", "--dataset", "composite", "--data-root", str(native_root)]) == 0
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.strip().startswith("total")).split()
    assert total[1:4] == ["442/442", "68", "250/109/83"]
    assert "estimated apex: 166" in out and "clipped range: 1" in out and "ok: merauto search can use" in out


@pytest.mark.slow
def test_search_runs_on_a_native_layout(tmp_path: Path) -> None:
    clips = [c for c in composite_clips() if c.dataset == "smic" and c.subject in {"s1", "s2", "s3", "s4"}]
    write_smic(tmp_path / "data", clips)
    run_dir = tmp_path / "run"
    result = merauto("search", "--dataset", "smic", "--budget", "1", "--run-dir", str(run_dir), cache=tmp_path / "cache",
                      env={DATA_ROOT_ENV: str(tmp_path / "data")})  # fmt: skip
    assert "estimated apex" in result.stderr and "1/1 trials finished" in result.stderr
    study = optuna.load_study(study_name="smic", storage=f"sqlite:///{run_dir}/study.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
