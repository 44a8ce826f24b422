"""CAS(ME)^2 and SAMM long videos read from their distributed layouts: tiny generated copies (small
synthetic grey images, never faces; coding sheets written with openpyxl, with the quirks of the
real ones) checked for subjects, videos, intervals, the frame step, the cache and every refusal."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from openpyxl import Workbook
from refusal_cases import command

import merauto.data.long_videos.frames as frames_module
from merauto.data.long_videos.folders import Interval, LongVideo
from merauto.data.long_videos.frames import read_long_videos
from merauto.data.long_videos.sets import LONG_VIDEO_SETS, read_catalogue
from merauto.errors import MerautoError

CASME2_SHEET = "CAS(ME)^2code_final.xlsx"
SAMM_SHEET = "SAMM_LongVideos_V3_Release.xlsx"
# participant -> subject code; video folders (frames) per subject code
CASME2_PARTICIPANTS = {1: 15, 2: 16, 3: 19}
CASME2_VIDEOS = {"0101disgustingteeth": 10, "0102eatingworms": 8}
# headerless rows: participant, expression, onset, apex, offset, action units, emotion, type, self-report
CASME2_ROWS: list[list[Any]] = [
    [1, "disgust1_1", 2, 4, 6, "4+7", "disgust", "micro-expression", "disgust"],
    [1, "disgust1_2", 7, 8, 0, "12", "others", "macro-expression", "happy"],  # offset 0: not coded
    [2, "disgust1_1", 1, 2, 3, "4", "disgust", "micro-expression", ""],
    [3, "disgust2_1", 3, 5, 8, "4", "disgust", "macro-expression", ""],
]
SAMM_VIDEOS = {"006_1": 30, "007_2": 30, "008_1": 12}
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type", "Action Units", "Notes"]
SAMM_ROWS: list[list[Any]] = [
    [6, "006_1_1", 1, 3, 4, 5, 3, "Micro - 1/2", "R14", ""],
    [6, "006_1_2", 1, 15, 20, 29, 15, "Macro", "12", ""],
    [7, "007_2_1", 2, 8, 10, -1, 0, "micro-1/2", "4", "offset not coded"],
    [7, "007_2_2", 2, 22, 24, 26, 5, "MACRO", "4", ""],
]


def _write_frames(folder: Path, numbers: range, name: Callable[[int], str], colour: bool) -> None:
    """Uniform frames whose grey level tells their number (5 per frame), so an order can be checked."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        frame = np.full((24, 32, 3) if colour else (24, 32), min(5 * number, 255), np.uint8)
        cv2.imwrite(str(folder / name(number)), frame)


def write_casme2_lv(root: Path, rows: list[list[Any]] | None = None, swap_mappings: bool = False, length: int = 0) -> Path:
    """``CAS(ME)^2/rawpic/s15/15_0101disgustingteeth/img1.jpg`` ... (``length`` frames a video, or as in CASME2_VIDEOS)
    and the headerless coding sheet with its two mapping sheets."""
    top = root / "CAS(ME)^2"
    for code in CASME2_PARTICIPANTS.values():
        for video, n in CASME2_VIDEOS.items():
            n = length or n
            _write_frames(top / "rawpic" / f"s{code}" / f"{code}_{video}", range(1, n + 1), lambda k: f"img{k}.jpg", colour=True)
    book = Workbook()
    coding = book.active
    coding.title = "FACS"
    for row in CASME2_ROWS if rows is None else rows:
        coding.append(row)
    videos = [["0101", "disgust1"], [102, "disgust2"]]  # a code stored as a number loses its leading zero
    participants = [[p, c] for p, c in CASME2_PARTICIPANTS.items()]
    tables = [participants, videos] if swap_mappings else [videos, participants]
    for title, table in zip(("naming rule1", "naming rule2"), tables, strict=True):
        sheet = book.create_sheet(title)
        for row in table:
            sheet.append(row)
    book.save(top / CASME2_SHEET)
    return root


def write_samm_lv(root: Path, rows: list[list[Any]] | None = None) -> Path:
    """``SAMM_longvideos/006_1/006_1_0001.jpg`` ... (``007_2`` numbered without padding) and the sheet below preamble rows."""
    top = root / "SAMM_longvideos"
    for video, n in SAMM_VIDEOS.items():
        digits = 1 if video == "007_2" else 4  # img 10 sorts before img 9 lexically
        _write_frames(top / video, range(1, n + 1), lambda k, v=video, d=digits: f"{v}_{k:0{d}d}.jpg", colour=False)
    book = Workbook()
    sheet = book.active
    for line in ("SAMM long videos", "", "Frames are numbered as in the file names", ""):
        sheet.append([line])
    sheet.append(SAMM_HEADER)
    for row in SAMM_ROWS if rows is None else rows:
        sheet.append(row)
    book.save(top / SAMM_SHEET)
    return root


def _load(source: str, root: Path, cache: Path, step: int | None = None, size: int = 16) -> tuple[list[LongVideo], list]:
    """What merauto spot reads: the catalogue (refused on errors), then the frames."""
    catalogue = read_catalogue(source, root, None)
    catalogue.require()
    videos, findings = read_long_videos(catalogue, size, step or LONG_VIDEO_SETS[source].default_step, cache)
    return videos, [*catalogue.findings, *findings]


def _by_name(videos: list[LongVideo]) -> dict[str, LongVideo]:
    return {v.name: v for v in videos}


@pytest.mark.parametrize("swap_mappings", [False, True])
def test_casme2_lv_reads_every_video_with_its_intervals(tmp_path: Path, swap_mappings: bool) -> None:
    root = write_casme2_lv(tmp_path / "data", swap_mappings=swap_mappings)
    videos, findings = _load("casme2-lv", root, tmp_path / "cache")
    assert {v.subject for v in videos} == {"s15", "s16", "s19"}
    assert len(videos) == 6 and all(v.fps == 30.0 for v in videos)
    s15 = _by_name([v for v in videos if v.subject == "s15"])
    # onset 2 / offset 6 -> 0-based 1..5; the second row's offset 0 ends at its apex 8 -> 6..7
    assert s15["15_0101disgustingteeth"].truth == (Interval(1, 5, "micro", "disgust"), Interval(6, 7, "macro", "others"))
    assert s15["15_0102eatingworms"].truth == () and s15["15_0102eatingworms"].frames.shape == (8, 16, 16)  # uncoded, still read
    assert _by_name(videos)["19_0102eatingworms"].truth == (Interval(2, 7, "macro", "disgust"),)  # disgust2 = code 102 -> 0102
    assert s15["15_0101disgustingteeth"].frames.shape == (10, 16, 16) and s15["15_0101disgustingteeth"].frames.dtype == np.uint8
    uncoded = [f for f in findings if "not coded" in f.message]
    assert [(f.sample, f.error) for f in uncoded] == [(f"{CASME2_SHEET}, row 2", False)]
    assert sum("no face found" in f.kind for f in findings) == 6  # synthetic frames hold no face: whole frame, a warning
    catalogue = read_catalogue("casme2-lv", root, None)
    mapping_sheets = ("naming rule2", "naming rule1") if swap_mappings else ("naming rule1", "naming rule2")
    assert f"video codes from worksheet {mapping_sheets[0]!r}, participants from worksheet {mapping_sheets[1]!r}" in catalogue.origin


def test_samm_lv_orders_frames_by_number_and_maps_intervals_to_the_kept_frames(tmp_path: Path) -> None:
    root = write_samm_lv(tmp_path / "data")
    videos, findings = _load("samm-lv", root, tmp_path / "cache")
    assert {v.subject for v in videos} == {"006", "007", "008"} and len(videos) == 3
    by_name = _by_name(videos)
    assert all(v.fps == pytest.approx(200 / 7) for v in videos)
    assert by_name["006_1"].frames.shape == (5, 16, 16)  # frames 1, 8, 15, 22, 29 of 30
    # onset 3..offset 5 (positions 2..4) shrinks to kept frame 0 without vanishing; 15..29 (14..28) -> 2..4
    assert by_name["006_1"].truth == (Interval(0, 0, "micro"), Interval(2, 4, "macro"))
    # offset -1: the apex 10 ends it (positions 7..9 -> 1..1); 22..26 (21..25) -> 3..3
    assert by_name["007_2"].truth == (Interval(1, 1, "micro"), Interval(3, 3, "macro"))
    assert by_name["008_1"].truth == ()
    levels = by_name["007_2"].frames[:, 8, 8].astype(int)  # frames 1, 8, 15, 22, 29 in numeric, not lexical, order
    assert np.all(np.abs(levels - 5 * np.array([1, 8, 15, 22, 29])) <= 2), levels
    assert [f.sample for f in findings if "not coded" in f.message] == [f"{SAMM_SHEET}, row 8"]
    full_rate, _ = _load("samm-lv", root, tmp_path / "cache", step=1)
    assert _by_name(full_rate)["006_1"].truth == (Interval(2, 4, "micro"), Interval(14, 28, "macro"))


def _casme2_row(row: int, **cells: Any) -> Callable[[Path], Path]:
    columns = ("participant", "expression", "onset", "apex", "offset", "aus", "emotion", "type")

    def build(root: Path) -> Path:
        rows = [list(r) for r in CASME2_ROWS]
        for key, value in cells.items():
            rows[row - 1][columns.index(key)] = value
        return write_casme2_lv(root, rows)

    return build


def _samm_row(row: int, **cells: Any) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        rows = [list(r) for r in SAMM_ROWS]
        for key, value in cells.items():
            rows[row - 1][SAMM_HEADER.index(key)] = value
        return write_samm_lv(root, rows)

    return build


def _then(build: Callable[[Path], Path], change: Callable[[Path], object]) -> Callable[[Path], Path]:
    def both(root: Path) -> Path:
        build(root)
        change(root)
        return root

    return both


def _rawvideo_only(root: Path) -> None:
    shutil.rmtree(root / "CAS(ME)^2" / "rawpic")
    (root / "CAS(ME)^2" / "rawvideo" / "s15").mkdir(parents=True)
    (root / "CAS(ME)^2" / "rawvideo" / "s15" / "15_0101disgustingteeth.avi").write_bytes(b"")


CAS = re.escape(CASME2_SHEET)
SAMM = re.escape(SAMM_SHEET)
SAMM_FRAMES = Path("SAMM_longvideos")
CASME2_FRAMES = Path("CAS(ME)^2") / "rawpic"
BAD_INPUTS = {
    "casme2 no coding sheet": (
        "casme2-lv",
        _then(write_casme2_lv, lambda r: (r / "CAS(ME)^2" / CASME2_SHEET).unlink()),
        r"no coding sheet CAS\(ME\)\^2code_final\*\.xlsx",
    ),
    "casme2 frames only as videos": (
        "casme2-lv",
        _then(write_casme2_lv, _rawvideo_only),
        r"rawvideo holds the videos.*\n.*extract each video",
    ),
    "casme2 missing video folder": (
        "casme2-lv",
        _then(write_casme2_lv, lambda r: shutil.rmtree(r / CASME2_FRAMES / "s16" / "16_0101disgustingteeth")),
        rf"{CAS}, row 3: no folder .*16_0101\* holds the frames of video disgust1",
    ),
    "casme2 row outside the video": (
        "casme2-lv",
        _casme2_row(1, offset=99),
        rf"{CAS}, row 1: frames 2-99 lie outside the video s15/15_0101",
    ),
    "casme2 unknown type": ("casme2-lv", _casme2_row(4, type="blink"), rf"{CAS}, row 4: type 'blink' is neither micro nor macro"),
    "casme2 onset not a number": (
        "casme2-lv",
        _casme2_row(3, onset="two"),
        rf"{CAS}, row 3: onset 'two', apex '2', offset '3': onset or offset",
    ),
    "casme2 unknown participant": (
        "casme2-lv",
        _casme2_row(2, participant=9),
        rf"{CAS}, row 2: participant '9' is not in the participant mapping",
    ),
    "casme2 unknown video name": (
        "casme2-lv",
        _casme2_row(2, expression="anger9_1"),
        rf"{CAS}, row 2: video 'anger9' .* not in the video code",
    ),
    "samm no coding sheet": (
        "samm-lv",
        _then(write_samm_lv, lambda r: (r / SAMM_FRAMES / SAMM_SHEET).unlink()),
        r"no coding sheet SAMM_LongVideos_V\*_Release\.xlsx",
    ),
    "samm unknown type": ("samm-lv", _samm_row(2, Type="Blink"), rf"{SAMM}, row 7: type 'Blink' is neither micro nor macro"),
    "samm offset not a number": (
        "samm-lv",
        _samm_row(1, Offset="end"),
        rf"{SAMM}, row 6: onset '3', apex '4', offset 'end': onset or offset",
    ),
    "samm missing video folder": (
        "samm-lv",
        _samm_row(1, Filename="009_1_1"),
        rf"{SAMM}, row 6: no folder .*009_1 holds the frames of 009_1_1",
    ),
    "samm filename names no video": (
        "samm-lv",
        _samm_row(3, Filename="clip three"),
        rf"{SAMM}, row 8: Filename 'clip three' does not name",
    ),
    "samm row outside the video": (
        "samm-lv",
        _samm_row(4, Onset=0),
        rf"{SAMM}, row 9: frames 0-26 lie outside the video 007/007_2 \(frames 1-30\)",
    ),
    "samm offset before onset": ("samm-lv", _samm_row(2, Offset=10), rf"{SAMM}, row 7: offset 10 comes before onset 15"),
    "casme2 undecodable frame": (
        "casme2-lv",
        _then(write_casme2_lv, lambda r: (r / CASME2_FRAMES / "s19" / "19_0102eatingworms" / "img3.jpg").write_bytes(b"not a jpeg")),
        r"19_0102eatingworms/img3\.jpg cannot be decoded",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_naming_the_file_and_row(tmp_path: Path, case: str) -> None:
    source, build, expected = BAD_INPUTS[case]
    root = build(tmp_path / "data")
    with pytest.raises(MerautoError, match=expected) as refused:
        _load(source, root, tmp_path / "cache")
    assert refused.value.fix


def test_a_second_read_comes_from_the_cache_until_a_frame_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_samm_lv(tmp_path / "data")
    first, _ = _load("samm-lv", root, tmp_path / "cache")
    decoded: list[Path] = []
    real = frames_module._decode
    monkeypatch.setattr(frames_module, "_decode", lambda path, *flag: decoded.append(path) or real(path, *flag))
    again, _ = _load("samm-lv", root, tmp_path / "cache")
    assert decoded == [] and all(np.array_equal(a.frames, b.frames) for a, b in zip(first, again, strict=True))
    _write_frames(root / SAMM_FRAMES / "008_1", range(8, 9), lambda k: f"008_1_{k:04d}.jpg", colour=True)  # content changed
    _load("samm-lv", root, tmp_path / "cache")
    assert decoded and {p.parent.name for p in decoded} == {"008_1"}


def test_the_face_box_crops_every_frame_decoded_at_a_reduced_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_samm_lv(tmp_path / "data")
    for path in (root / SAMM_FRAMES / "006_1").iterdir():
        if path.suffix == ".jpg":
            frame = np.zeros((240, 320), np.uint8)
            frame[80:160, 160:240] = 200  # the "face": pixels 160-239 across, 80-159 down
            cv2.imwrite(str(path), frame)
    flags: list[int] = []
    real = frames_module._decode
    monkeypatch.setattr(frames_module, "_decode", lambda path, *flag: flags.extend(flag) or real(path, *flag))
    monkeypatch.setattr(frames_module, "face_square", lambda grey: (199.5, 119.5, 80.0) if grey.shape == (240, 320) else None)
    videos, findings = _load("samm-lv", root, tmp_path / "cache", size=16)
    crop = _by_name(videos)["006_1"].frames
    assert crop.shape == (5, 16, 16) and crop.min() >= 190  # the box fills the crop: none of the black around it
    assert cv2.IMREAD_REDUCED_GRAYSCALE_4 in flags  # 80 px face / 4 = 20 px, still above the 16 px crop
    assert [f.sample for f in findings if "no face" in f.kind] == ["007/007_2", "008/008_1"]


def test_the_face_square_is_the_detected_box_with_its_margin_in_full_frame_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    from merauto.data.preprocessing.face import HaarFace, Registration, box_transform

    seen: list[tuple[int, ...]] = []

    def detect(self: HaarFace, grey: np.ndarray, params: dict[str, Any]) -> Registration:
        seen.append(grey.shape)  # a 1500x1000 frame is searched at 640x427; the face is at (600, 300), 300 wide, there 2.34 times smaller
        scale = grey.shape[1] / 1500
        return Registration(
            box_transform(450 * scale, 150 * scale, 300 * scale, 300 * scale, params["margin"], params["size"]), 100, "face_box"
        )

    monkeypatch.setattr(HaarFace, "register", detect)
    x, y, side = frames_module.face_square(np.zeros((1000, 1500), np.uint8))
    assert seen == [(427, 640)]
    assert (x, y, side) == pytest.approx((600, 300, 300 * (1 + 2 * frames_module.FACE_MARGIN)), abs=2)


def test_datasets_check_counts_a_good_tree_and_names_every_problem_of_a_broken_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from merauto.cli import main

    root = write_casme2_lv(tmp_path / "good")
    args = ["datasets", "check", "--dataset", "casme2-lv", "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    # subjects, videos, coded videos, frames, micro, macro, errors, warned
    assert re.search(r"casme2-lv\s+3\s+6\s+3\s+54\s+2\s+2\s+0\s+7\b", out), out
    assert "54 frames kept" in out and "rawpic (raw)" in out.replace("\n", "") and "ok: merauto spot can use this set" in out

    rows = [list(r) for r in CASME2_ROWS]
    rows[0][7], rows[2][2] = "blink", "two"
    broken = write_casme2_lv(tmp_path / "broken", rows)
    (broken / CASME2_FRAMES / "s19" / "19_0101disgustingteeth" / "img2.jpg").write_bytes(b"")
    assert main([*args, "--data-root", str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{CASME2_SHEET}, row 1: type 'blink'" in out and f"{CASME2_SHEET}, row 3: onset 'two'" in out
    assert "19_0101disgustingteeth/img2.jpg cannot be decoded" in out and "3 error(s)" in out


def test_spot_runs_end_to_end_on_the_casme2_long_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.cli import main

    root = write_casme2_lv(tmp_path / "data", length=90)  # 3 s: longer than the spotters' windows
    args = ["spot", "--dataset", "casme2-lv", "--data-root", str(root), "--budget", "1", "--frame-size", "32", "--resamples", "100"]
    args += ["--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--spotters", "optical-flow"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "6 videos, 3 subjects, 4 coded expressions" in captured.err and "1 trials in" in captured.err, captured.err
    assert "IoU >= 0.5" in captured.out
    assert (tmp_path / "run" / "study.db").is_file()

    # its export reads a new video as the set's videos were read: cut to the face, resized, subsampled
    args += ["--frame-step", "2", "--study", "step2", "--export"]
    assert main(args) == 0
    capsys.readouterr()
    spotter = tmp_path / "run" / "export" / "spotter"
    assert json.loads((spotter / "spotter.json").read_text())["preprocessing"] == {"frame_size": 32, "step": 2}
    video = next((root / "CAS(ME)^2" / "rawpic").glob("s15/15_0101*"))  # full-size frames, not the spotter's 32 px
    assert main(["predict", str(spotter), "--video", str(video), "--timeline", str(tmp_path / "t.html")]) == 0
    rows = [r.split(",") for r in capsys.readouterr().out.splitlines()[1:]]
    assert all(1 <= int(r[0]) <= int(r[1]) <= int(r[2]) <= 90 for r in rows)  # the fixture's still frames may show none
    assert (tmp_path / "t.html").is_file()


def test_bad_spot_options_are_refused_before_torch_ray_or_optuna_is_imported(tmp_path: Path) -> None:
    from merauto.orchestrator.spot_command import LONG_VIDEO_DATASETS

    assert LONG_VIDEO_DATASETS == tuple(LONG_VIDEO_SETS)
    broken = write_samm_lv(tmp_path / "data", [row[:7] + ["Blink"] + row[8:] for row in SAMM_ROWS])
    for args, expected in [
        (["--dataset", "samm-lv", "--frame-step", "0", "--data-root", str(broken)], "--frame-step 0"),
        (["--dataset", "synthetic-lv", "--frame-size", "64"], "--frame-size applies to --dataset casme2-lv and samm-lv"),
        (["--dataset", "samm-lv", "--data-root", str(broken)], f"{SAMM_SHEET}, row 6: type 'Blink'"),
    ]:
        run = subprocess.run(command(["spot", *args, "--run-dir", str(tmp_path / "run")]), capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and expected in run.stderr, run.stderr
        assert run.stderr.rstrip().endswith("imported:"), run.stderr
    assert not (tmp_path / "run").exists()
