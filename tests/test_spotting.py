"""Spotting in long videos: the synthetic long-video set, its loader's checks, the baseline spotter
under nested leave-one-subject-out, and the spotting leakage invariant."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest

from merauto.data.long_videos.folders import LongVideo, load_long_videos
from merauto.data.sample_index import SampleIndex
from merauto.data.synthetic.long_video import LONG_VIDEO_SIZES, LongVideoSpec, ensure_long_videos
from merauto.errors import MerautoError
from merauto.evaluator.nested import EvalData
from merauto.evaluator.spotters import SPOTTERS, Memo, evaluate
from merauto.evaluator.spotting import evaluate_fold
from merauto.evaluator.spotting_metrics import SpotCounts
from merauto.results.spotting.report import per_fold_choice, spot_estimates
from merauto.results.spotting.store import SpotTrial

TINY_LV = LongVideoSpec(size="tiny")
FOUND = {"top": 0.1, "micro_gap_s": 0.2, "macro_gap_s": 1.5}  # the baseline setting behind the F1 stated below


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> list[LongVideo]:
    annotations = ensure_long_videos(TINY_LV, tmp_path_factory.mktemp("lv"))
    return load_long_videos(annotations, TINY_LV.fps)


def test_the_synthetic_long_videos_plant_both_types_apart_from_each_other(tiny_videos: list[LongVideo]) -> None:
    subjects, per_subject, seconds = LONG_VIDEO_SIZES["tiny"]
    assert len(tiny_videos) == subjects * per_subject
    for video in tiny_videos:
        assert video.frames.shape == (int(seconds * TINY_LV.fps), 64, 64)
        kinds = [i.kind for i in video.truth]
        assert {"micro", "macro"} <= set(kinds)
        spans = sorted((i.start, i.end) for i in video.truth)
        assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
        micro = [i.length for i in video.truth if i.kind == "micro"]
        assert max(micro) <= 0.5 * TINY_LV.fps + 1  # at most half a second


def test_the_baseline_finds_planted_expressions_at_the_stated_f1(tiny_videos: list[LongVideo]) -> None:
    outcome = evaluate(tiny_videos, "optical-flow", FOUND)
    test = outcome.test()
    assert test["overall"].f1 >= 0.15 and test["macro"].tp >= 2  # measured: overall 0.167, macro 0.571, micro 0.069
    assert len(outcome.folds) == 3
    tp, fp, fn = (sum(getattr(f.inner[kind], n) for f in outcome.folds for kind in ("micro", "macro")) for n in ("tp", "fp", "fn"))
    assert outcome.objective() == pytest.approx(2 * tp / (2 * tp + fp + fn))  # what Optuna sees: pooled inner F1 of both types, by hand


@pytest.mark.parametrize("spotter", ["optical-flow", "shallow-cnn"])
def test_a_folds_threshold_and_inner_score_never_depend_on_its_test_subject(tiny_videos: list[LongVideo], spotter: str) -> None:
    """The spotting leakage invariant, for every spotter: the test subject's frames replaced by noise and
    its intervals moved change neither the thresholds chosen for its fold nor the fold's inner counts
    (for the learned spotter: nor the networks that score its training subjects)."""
    rng = np.random.default_rng(0)
    subject = tiny_videos[0].subject
    corrupted = [
        replace(
            v, frames=rng.integers(0, 256, v.frames.shape, dtype=np.uint8), truth=tuple(replace(i, start=i.start // 2) for i in v.truth)
        )
        if v.subject == subject
        else v
        for v in tiny_videos
    ]
    component = SPOTTERS.get(spotter)
    params = component.resolve(FOUND if spotter == "optical-flow" else {"epochs": 2})
    clean = evaluate_fold(*component.fold_signals(tiny_videos, params, subject, Memo()), subject)
    dirty = evaluate_fold(*component.fold_signals(corrupted, params, subject, Memo()), subject)
    assert (clean.thresholds, clean.inner) == (dirty.thresholds, dirty.inner)
    assert clean.test != dirty.test


def _tree(tmp_path: Path, rows: list[dict[str, str]], frames: int = 5) -> Path:
    folder = tmp_path / "s1" / "v1"
    folder.mkdir(parents=True)
    for n in range(1, frames + 1):
        cv2.imwrite(str(folder / f"img{n:05d}.jpg"), np.full((16, 16), 100, np.uint8))
    annotations = tmp_path / "annotations.csv"
    with annotations.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["subject", "video", "onset", "apex", "offset", "type"])
        writer.writeheader()
        writer.writerows(rows)
    return annotations


def test_a_coding_row_outside_the_video_is_refused_naming_the_line(tmp_path: Path) -> None:
    annotations = _tree(tmp_path, [{"subject": "s1", "video": "v1", "onset": "2", "apex": "3", "offset": "9", "type": "micro"}])
    with pytest.raises(MerautoError, match=r"annotations.csv, line 2: frames 2-9 lie outside the video s1/v1 \(frames 1-5\)"):
        load_long_videos(annotations, 30.0)


def test_a_coded_subjects_video_without_rows_is_read_with_no_intervals(tmp_path: Path) -> None:
    annotations = _tree(tmp_path, [{"subject": "s1", "video": "v1", "onset": "2", "apex": "3", "offset": "4", "type": "micro"}])
    quiet = tmp_path / "s1" / "v2"
    quiet.mkdir()
    for n in range(1, 8):
        cv2.imwrite(str(quiet / f"img{n:05d}.jpg"), np.full((16, 16), 90, np.uint8))
    (tmp_path / "s1" / "notes").mkdir()  # no numbered frames: not a video
    videos = {v.name: v for v in load_long_videos(annotations, 30.0)}
    assert sorted(videos) == ["v1", "v2"] and videos["v2"].truth == () and len(videos["v2"].frames) == 7
    assert [(i.start, i.end) for i in videos["v1"].truth] == [(1, 3)]


def test_a_frame_that_cannot_be_decoded_is_refused_naming_the_file(tmp_path: Path) -> None:
    annotations = _tree(tmp_path, [{"subject": "s1", "video": "v1", "onset": "1", "apex": "2", "offset": "3", "type": "macro"}])
    (tmp_path / "s1" / "v1" / "img00003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(MerautoError, match="img00003.jpg cannot be decoded"):
        load_long_videos(annotations, 30.0)


def test_spot_searches_reports_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.cli import main
    from merauto.results.spotting.store import load_spot_trials

    args = ["spot", "--lv-size", "tiny", "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--resamples", "100"]
    assert main([*args, "--budget", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert re.search(
        r"trial 1 \((optical-flow|shallow-cnn)\) complete, inner F1 0\.\d{3} \| 2/2 done; best inner F1 0\.\d{3}; eta", captured.err
    )
    assert "per-fold" in out and "global" in out and "nested" in out and "IoU >= 0.5" in out and "subject by subject" in out
    assert main([*args, "--budget", "3"]) == 0  # resumes: one more trial, none repeated
    trials = load_spot_trials(tmp_path / "run")
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(len(t.folds) == 3 for t in trials)
    for trial in trials:  # the stored objective is the pooled inner F1 of the stored inner counts (computed by hand)
        tp, fp, fn = (sum(f["inner"]["overall"][n] for f in trial.folds) for n in ("tp", "fp", "fn"))
        assert trial.objective == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    study = optuna.load_study(study_name="spot-synthetic-lv-tiny", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    assert len(study.trials) == 3 and "outer_f1_overall" in study.trials[0].user_attrs
    assert {t.params["spotter"] for t in study.trials} <= {"optical-flow", "shallow-cnn"}
    assert [t.spotter for t in trials] == [t.params["spotter"] for t in study.trials]

    # --export: the selected spotter with thresholds chosen on every subject; predict --video runs it on a
    # folder of frames and on a video file, and refuses frames of another size or a file that is no video
    assert main([*args, "--budget", "3", "--export"]) == 0
    capsys.readouterr()
    spotter = tmp_path / "run" / "export" / "spotter"
    folder = next((tmp_path / "cache" / "synthetic-lv").glob("tiny-*/s01/s01_01"))
    assert main(["predict", str(spotter), "--video", str(folder)]) == 0
    from_folder = capsys.readouterr().out.splitlines()
    assert from_folder[0] == "start,apex,end,type,score" and len(from_folder) > 1
    assert all(int(r.split(",")[0]) <= int(r.split(",")[1]) <= int(r.split(",")[2]) for r in from_folder[1:])
    frames = sorted(folder.glob("*.jpg"))
    writer = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 64), isColor=False)
    for frame in frames:
        writer.write(cv2.imread(str(frame), cv2.IMREAD_GRAYSCALE))
    writer.release()
    assert main(["predict", str(spotter), "--video", str(tmp_path / "v.avi")]) == 0
    assert capsys.readouterr().out.startswith("start,apex,end,type,score")
    (tmp_path / "big").mkdir()
    cv2.imwrite(str(tmp_path / "big" / "img00001.jpg"), np.zeros((32, 48), np.uint8))
    cv2.imwrite(str(tmp_path / "big" / "img00002.jpg"), np.zeros((32, 48), np.uint8))
    assert main(["predict", str(spotter), "--video", str(tmp_path / "big")]) == 2
    assert "48x32, the spotter's 64x64" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a video")
    assert main(["predict", str(spotter), "--video", str(tmp_path / "notes.txt")]) == 2
    assert "cannot be decoded as a video" in capsys.readouterr().err


def test_spot_then_recognise_classifies_each_spotted_micro_expression(
    tiny_videos: list[LongVideo], tiny_index: SampleIndex, tiny_flow: EvalData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_onnx_export import _export

    from merauto.cli import main
    from merauto.results.spotting.export import export_spotter
    from merauto.results.spotting.store import spot_record

    trial = spot_record(0, {"spotter": "optical-flow", **FOUND}, evaluate(tiny_videos, "optical-flow", FOUND))
    spotter = export_spotter([trial], tiny_videos, tmp_path / "spotter")
    recogniser = _export(tiny_index, tiny_flow, tmp_path / "trial-0")
    video = tmp_path / "video"
    video.mkdir()
    for n, frame in enumerate(tiny_videos[0].frames, 1):
        cv2.imwrite(str(video / f"img{n:05d}.png"), frame)
    args = ["predict", str(spotter), "--video", str(video), "--recognise", str(recogniser), "--cache-dir", str(tmp_path / "cache")]
    args += ["--timeline", str(tmp_path / "timeline.html")]
    assert main(args) == 0
    captured = capsys.readouterr()
    header, *rows = captured.out.splitlines()
    classes = json.loads((recogniser / "pipeline.json").read_text())["classes"]
    assert header == "start,apex,end,type,score,label,confidence," + ",".join(f"p_{c}" for c in classes)
    micro = [r.split(",") for r in rows if r.split(",")[3] == "micro"]
    macro = [r.split(",") for r in rows if r.split(",")[3] == "macro"]
    assert micro and all(r[5] in classes and abs(sum(map(float, r[7:])) - 1) < 1e-3 for r in micro)
    assert all(float(r[6]) == max(map(float, r[7:])) for r in micro)  # confidence: the recognised class's probability
    assert all(r[5:] == [""] * (len(classes) + 2) for r in macro)  # the recogniser classifies micro-expressions only
    assert "trained on clips of" in captured.err  # 64 px long-video frames against the recogniser's training size
    page = (tmp_path / "timeline.html").read_text()  # the signals, the intervals and one apex frame per interval, labelled
    assert "plotly" in page and page.count("<figure>") == len(rows) and page.count('<img src="data:image/png;base64,') == len(rows)
    assert all(f"apex {r[1]}: {r[5]}" in page for r in micro)


def test_a_learned_spotter_is_exported_with_its_network_and_spots_a_new_video(
    tiny_videos: list[LongVideo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from merauto.cli import main
    from merauto.results.spotting.export import ExportedSpotter, export_spotter
    from merauto.results.spotting.store import spot_record

    params = {"epochs": 2}
    trial = spot_record(0, {"spotter": "shallow-cnn", **params}, evaluate(tiny_videos, "shallow-cnn", params))
    spotter = export_spotter([trial], tiny_videos, tmp_path / "spotter")
    assert spotter.stat().st_mode & 0o055 == 0o055 and not list(tmp_path.glob(".spotter-*"))  # readable by others, no staging left
    loaded = ExportedSpotter.load(spotter)
    fitted = SPOTTERS.get("shallow-cnn").fit(tiny_videos, SPOTTERS.get("shallow-cnn").resolve(params), Memo())
    frames = tiny_videos[0].frames
    assert loaded.spotter == "shallow-cnn" and loaded.thresholds == fitted.thresholds
    for kind in ("micro", "macro"):  # the network read back scores every frame as the one trained
        np.testing.assert_allclose(loaded.fitted.raw(frames, TINY_LV.fps)[kind], fitted.raw(frames, TINY_LV.fps)[kind], atol=1e-5)
    video = tmp_path / "video"
    video.mkdir()
    for n, frame in enumerate(frames, 1):
        cv2.imwrite(str(video / f"img{n:05d}.png"), frame)
    assert main(["predict", str(spotter), "--video", str(video)]) == 0
    assert capsys.readouterr().out.startswith("start,apex,end,type,score")
    (spotter / "spotter.safetensors").unlink()
    with pytest.raises(MerautoError, match="holds no spotter.safetensors"):
        ExportedSpotter.load(spotter)


def test_spot_refuses_fewer_than_three_subjects_before_searching(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from merauto.cli import main

    annotations = _tree(tmp_path, [{"subject": "s1", "video": "v1", "onset": "1", "apex": "2", "offset": "3", "type": "micro"}])
    run_dir = tmp_path / "run"
    assert main(["spot", "--dataset", "manifest", "--annotations", str(annotations), "--fps", "30", "--run-dir", str(run_dir)]) == 2
    assert "1 subject(s); nested leave-one-subject-out needs at least 3" in " ".join(capsys.readouterr().err.split())  # as rich wrapped it
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--spotters", "optical-flow,softnet"], "--spotters 'optical-flow,softnet': unknown spotter softnet"),
        (["--storage", "sqlite:////no-such-folder/spot.db"], "cannot open --storage sqlite:////no-such-folder/spot.db"),
        (["--recognise", "."], "lacks pipeline.json; it is not a merauto export"),
    ],
)
def test_bad_spot_options_are_refused_before_any_video_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], expected: str
) -> None:
    from merauto.cli import main

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    assert main(["spot", "--lv-size", "tiny", "--run-dir", str(run_dir), "--cache-dir", str(cache), *option]) == 2
    assert expected in capsys.readouterr().err
    assert not run_dir.exists() and not cache.exists()  # refused before the synthetic videos were generated


def test_a_failing_spotter_trial_is_recorded_and_the_search_goes_on(
    tiny_videos: list[LongVideo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    import merauto.orchestrator.spot_search as spot_search

    real, calls = spot_search.evaluate, []

    def flaky(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("the signal diverged")
        return real(*args, **kwargs)

    monkeypatch.setattr(spot_search, "evaluate", flaky)
    trials = spot_search.run_spot_search(tiny_videos, tmp_path / "run", "s", 3, 0, None, Console(quiet=True), ["optical-flow"])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"] and [t.number for t in trials] == [0, 2]
    assert "FloatingPointError: the signal diverged" in study.trials[1].user_attrs["error"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"type": "blink"}, "line 2: type 'blink' is neither micro nor macro"),
        ({"onset": "two"}, "line 2: onset 'two' or offset '3' is not a frame number"),
    ],
)
def test_a_bad_coding_row_is_refused_naming_the_line(tmp_path: Path, row: dict[str, str], expected: str) -> None:
    coded = {"subject": "s1", "video": "v1", "onset": "1", "apex": "2", "offset": "3", "type": "micro"} | row
    with pytest.raises(MerautoError, match=re.escape(expected)):
        load_long_videos(_tree(tmp_path, [coded]), 30.0)


def test_annotations_without_the_coding_columns_are_refused(tmp_path: Path) -> None:
    annotations = tmp_path / "annotations.csv"
    annotations.write_text("subject,video,start\ns1,v1,1\n")
    with pytest.raises(MerautoError, match="lacks the columns apex, offset, onset, type"):
        load_long_videos(annotations, 30.0)


def test_a_broken_spotter_export_is_refused_with_the_fix(tmp_path: Path) -> None:
    from merauto.results.spotting.export import SPOTTER_FILE, ExportedSpotter

    (tmp_path / SPOTTER_FILE).write_text('{"params": {}}')
    with pytest.raises(MerautoError, match="is not a spotter export"):
        ExportedSpotter.load(tmp_path)


def test_the_spot_then_recognise_score_is_the_product_of_hand_computed_stages() -> None:
    from merauto.results.spotting.then_recognise import Recognised, StrScore

    recognised = [Recognised("a", "v", 0, 1, 2, "negative", "negative"), Recognised("a", "v", 5, 6, 7, "positive", "negative")]
    coded = {"a": ("negative", "positive", "surprise")}
    score = StrScore({"a": SpotCounts(2, 1, 1)}, recognised, ("negative", "positive", "surprise"), coded)
    assert score.sf1() == pytest.approx(2 / 3)  # 2 TP, 1 FP, 1 FN
    # negative: 1 TP, 1 FP (P 1/2, R 1); positive: 1 FN (0, 0); surprise coded, never a true positive (0, 0)
    assert score.af1() == pytest.approx(2 * (1 / 6) * (1 / 3) / (1 / 6 + 1 / 3))  # MEGC's: harmonic mean of macro P 1/6 and R 1/3
    assert score.strs() == pytest.approx(2 / 3 * 2 / 9) and score.outside_classes == 0


def test_spot_then_recognise_labels_the_per_fold_selections_true_positives(
    tiny_videos: list[LongVideo], tiny_index: SampleIndex, tiny_flow: EvalData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_onnx_export import _export

    from merauto.results.spotting.store import spot_record
    from merauto.results.spotting.then_recognise import spot_then_recognise

    settings = [FOUND, {**FOUND, "micro_gap_s": 0.3, "top": 0.05}]
    trials = [spot_record(n, {"spotter": "optical-flow", **p}, evaluate(tiny_videos, "optical-flow", p)) for n, p in enumerate(settings)]
    score = spot_then_recognise(trials, tiny_videos, _export(tiny_index, tiny_flow, tmp_path / "trial-0"), tmp_path / "cache")
    chosen = per_fold_choice(trials)
    assert score.spotting == {s: chosen[s].test_by_subject("micro")[s] for s in chosen}  # each fold's own selection
    tp = sum(c.tp for c in score.spotting.values())
    assert tp > 0 and len(score.recognised) == tp  # every true positive is classified, as MEGC scores every one
    coded = {(v.subject, v.name): {t.label for t in v.truth if t.kind == "micro"} for v in tiny_videos}
    assert all(r.truth in coded[(r.subject, r.video)] and r.label in score.classes for r in score.recognised)
    assert score.strs() == pytest.approx(score.sf1() * score.af1())
    unlabelled = [replace(v, truth=tuple(replace(t, label="") for t in v.truth)) for v in tiny_videos]
    with pytest.raises(MerautoError, match="--recognise needs the coded class of each micro-expression"):
        spot_then_recognise(trials, unlabelled, tmp_path / "trial-0", tmp_path / "cache")

    from merauto.cli import main  # the same from the command line, after the search and its report

    run = tmp_path / "run"
    args = ["spot", "--lv-size", "tiny", "--budget", "1", "--spotters", "optical-flow", "--run-dir", str(run)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache"), "--resamples", "100", "--recognise", str(tmp_path / "trial-0")]) == 0
    out = capsys.readouterr().out
    assert "STRS = SF1 x AF1" in out and "analysis F1 (AF1)" in out
    stored = json.loads((run / "spot_then_recognise.json").read_text())
    assert stored["strs"] == pytest.approx(stored["sf1"] * stored["af1"]) and stored["classes"] == list(score.classes)


@pytest.mark.parametrize("spotter", ["optical-flow", "shallow-cnn"])
def test_a_video_shorter_than_the_spotters_gap_gives_flat_signals(tiny_videos: list[LongVideo], spotter: str) -> None:
    component = SPOTTERS.get(spotter)
    short = [replace(v, frames=v.frames[:10], truth=()) if v.subject == tiny_videos[0].subject else v for v in tiny_videos]
    params = component.resolve({"micro_gap_s": 0.5, "macro_gap_s": 2.0, "epochs": 1})  # 15 and 60 frames, more than 10
    train, test = component.fold_signals(short, params, tiny_videos[0].subject, Memo())
    assert [len(s.signals["macro"]) for s in test] == [10] and not test[0].found({"micro": 0.5, "macro": 0.5})


def test_the_command_line_names_every_registered_spotter() -> None:
    from merauto.orchestrator.spot_command import SPOTTER_NAMES

    assert list(SPOTTER_NAMES) == SPOTTERS.names()


def test_a_subsampling_spotter_reports_intervals_in_the_new_videos_own_frame_numbers(tiny_videos: list[LongVideo]) -> None:
    from merauto.data.long_videos.frames import face_crops
    from merauto.evaluator.spotters import spot_frames
    from merauto.results.spotting.export import ExportedSpotter

    fitted = SPOTTERS.get("optical-flow").fit(tiny_videos, SPOTTERS.get("optical-flow").resolve(FOUND), Memo())
    exported = ExportedSpotter("optical-flow", fitted, TINY_LV.fps, (64, 64), {}, {"frame_size": 64, "step": 2})
    full_rate = np.repeat(tiny_videos[0].frames, 2, axis=0)  # the same video at twice the frame rate
    spotted, signal = exported.spot(full_rate)
    kept, _ = spot_frames(fitted, face_crops(full_rate, 2 * TINY_LV.fps, 64, 2)[0], TINY_LV.fps)
    assert spotted and len(spotted) == len(kept) and len(signal.signals["micro"]) == len(full_rate) // 2
    for whole, k in zip(spotted, kept, strict=True):
        assert (whole.interval.start, whole.apex) == (2 * k.interval.start, 2 * k.apex)
        assert whole.interval.end == min(len(full_rate) - 1, 2 * k.interval.end + 1) and whole.interval.kind == k.interval.kind


def test_the_spotting_selections_read_inner_scores_only() -> None:
    """The global and per-fold selections, given trials whose inner and test scores disagree: the best
    inner trial is chosen even where another spotted the test subjects better (a search of two trials
    whose best test trial is also its best inner trial cannot show this)."""

    def trial(number: int, inner: SpotCounts, test: SpotCounts) -> SpotTrial:
        counts = {kind: asdict(test) for kind in ("micro", "macro", "overall")}
        folds = [{"subject": s, "thresholds": {}, "inner": {"overall": asdict(inner)}, "test": counts} for s in ("s1", "s2")]
        return SpotTrial(number, {"spotter": "optical-flow"}, inner.f1, folds)

    good_inner = trial(0, SpotCounts(tp=8, fp=1, fn=1), SpotCounts(tp=1, fp=9, fn=9))
    good_test = trial(1, SpotCounts(tp=1, fp=9, fn=9), SpotCounts(tp=9, fp=0, fn=0))
    global_selection, per_fold = spot_estimates([good_inner, good_test])
    assert global_selection.description.startswith("trial 0 ") and global_selection.pooled("overall") == SpotCounts(tp=2, fp=18, fn=18)
    assert per_fold_choice([good_inner, good_test]) == {"s1": good_inner, "s2": good_inner}
    assert per_fold.pooled("overall") == SpotCounts(tp=2, fp=18, fn=18)
