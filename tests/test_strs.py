"""MEGC's spot-then-recognise score: the figures the official STRS script prints on its own sample data,
its analysis F1 against scikit-learn on generated tables, its quirks on hand-made cases, and ``merauto spot score``.

The official sample data (``data/gt.csv`` and ``data/pred.csv`` of the public repository
genbing99/STRS-Metric) is not kept in this repository: that repository grants no licence to
redistribute it, and its ground truth is CASME II's coding. Point ``MERAUTO_STRS_SAMPLE`` at a
folder holding the two files to run the tests that read them."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from merauto.cli import main
from merauto.data.long_videos.expression_tables import Expression, read_expressions
from merauto.evaluator.spotting_metrics import SpotCounts, iou
from merauto.evaluator.strs import analyse, score_tables

SAMPLE = Path(os.environ.get("MERAUTO_STRS_SAMPLE", "/nonexistent"))
GT, PRED = SAMPLE / "gt.csv", SAMPLE / "pred.csv"
needs_sample = pytest.mark.skipif(
    not (GT.is_file() and PRED.is_file()), reason="MERAUTO_STRS_SAMPLE names no folder with the STRS-Metric sample gt.csv and pred.csv"
)
EMOTIONS = ("disgust", "happiness", "others", "repression", "surprise")

# The sample's five emotions as the script counts the 159 true positives: (TP, FP, FN).
SAMPLE_EMOTIONS = {
    "disgust": (18, 10, 25),
    "happiness": (8, 11, 4),
    "others": (49, 35, 19),
    "repression": (4, 6, 13),
    "surprise": (17, 1, 2),
}


def _exact_af1() -> float:
    """AF1 of the sample worked out in fractions from the per-emotion counts above."""
    precision = sum(Fraction(tp, tp + fp) for tp, fp, _ in SAMPLE_EMOTIONS.values()) / 5
    recall = sum(Fraction(tp, tp + fn) for tp, _, fn in SAMPLE_EMOTIONS.values()) / 5
    return float(2 * precision * recall / (precision + recall))


@needs_sample
def test_the_official_scripts_sample_scores_as_its_main_prints() -> None:
    score = score_tables(read_expressions(GT, "--truth"), read_expressions(PRED, "--spotted"))
    assert score.spotting == SpotCounts(159, 85, 85)  # one coded and one spotted row per video, 244 videos
    assert score.sf1 == pytest.approx(159 / 244, abs=1e-12) and round(score.sf1, 4) == 0.6516
    assert {e: (c.tp, c.fp, c.fn) for e, c in score.analysis.counts.items()} == SAMPLE_EMOTIONS
    counted = [sum(c[k] for c in SAMPLE_EMOTIONS.values()) for k in range(3)]
    assert counted == [96, 63, 63]  # the script's "TP/FP/FN analysis"
    assert (round(score.analysis.precision, 4), round(score.analysis.recall, 4)) == (0.5983, 0.5872)
    assert score.af1 == pytest.approx(_exact_af1(), abs=1e-12) and round(score.af1, 4) == 0.5927
    assert score.strs == pytest.approx(159 / 244 * _exact_af1(), abs=1e-12) and round(score.strs, 4) == 0.3862
    assert (score.unscored_truth, score.unscored_spotted) == (0, 0)


def _generated_tables(folder: Path, videos: int = 200, seed: int = 0) -> tuple[Path, Path]:
    """A coded and a spotted table shaped as the official sample is (one row of each per video), drawn at random."""
    rng = np.random.default_rng(seed)
    rows = {"gt": [], "pred": []}
    for v in range(videos):
        onset = int(rng.integers(0, 200))
        coded = (onset, onset + int(rng.integers(5, 60)))
        shift = rng.integers(-20, 21, 2)
        spotted = (coded[0] + int(shift[0]), max(coded[0] + int(shift[0]), coded[1] + int(shift[1])))
        emotion = EMOTIONS[int(rng.choice(5, p=[0.4, 0.1, 0.3, 0.1, 0.1]))]  # unbalanced, and recognised unevenly
        guess = emotion if rng.random() < (0.9 if emotion == "surprise" else 0.4) else EMOTIONS[int(rng.integers(0, 5))]
        subject, video = f"s{v % 20:02d}", f"clip{v:03d}"
        rows["gt"].append(f"{subject},{video},{coded[0]},{coded[1]},{emotion}")
        rows["pred"].append(f"{subject},{video},{spotted[0]},{spotted[1]},{guess}")
    paths = []
    for name, lines in rows.items():
        path = folder / f"{name}.csv"
        path.write_text("subject,video,onset,offset,emotion\n" + "\n".join(lines) + "\n")
        paths.append(path)
    return paths[0], paths[1]


def test_the_analysis_f1_is_not_the_macro_f1_and_sklearn_agrees_on_its_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = _generated_tables(tmp_path)
    truth = {(e.subject, e.video): e for e in read_expressions(gt, "--truth")}
    spotted = {(e.subject, e.video): e for e in read_expressions(pred, "--spotted")}
    pairs = [(t.emotion, spotted[k].emotion) for k, t in truth.items() if iou(t.interval, spotted[k].interval) >= 0.5]
    coded, recognised = zip(*pairs, strict=True)
    labels = sorted({e.emotion for e in truth.values()})
    precision, recall, _, _ = precision_recall_fscore_support(coded, recognised, labels=labels, zero_division=0)
    analysis = analyse(pairs, labels)
    assert analysis.precision == pytest.approx(np.mean(precision), abs=1e-12) and analysis.recall == pytest.approx(
        np.mean(recall), abs=1e-12
    )
    af1 = 2 * np.mean(precision) * np.mean(recall) / (np.mean(precision) + np.mean(recall))
    macro_f1 = f1_score(coded, recognised, labels=labels, average="macro")
    assert analysis.f1 == pytest.approx(af1, abs=1e-12) and abs(macro_f1 - af1) > 1e-3  # MEGC's AF1 is not the macro F1

    # one coded and one spotted row per video: each spotted row is a true positive or a false positive and a false negative
    assert main(["spot", "score", "--truth", str(gt), "--spotted", str(pred), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    tp = len(pairs)
    assert (record["spotting"]["tp"], record["spotting"]["fp"], record["spotting"]["fn"]) == (tp, len(truth) - tp, len(truth) - tp)
    assert record["sf1"] == pytest.approx(tp / len(truth)) and record["af1"] == pytest.approx(af1, abs=1e-12)
    assert record["strs"] == pytest.approx(tp / len(truth) * af1, abs=1e-12)


def test_the_analysis_reproduces_the_scripts_quirks() -> None:
    mixed = analyse([("a", "a"), ("a", "b"), ("b", "b")], {"a", "b", "c"})
    assert mixed.counts == {"a": SpotCounts(1, 0, 1), "b": SpotCounts(1, 1, 0), "c": SpotCounts()}
    assert mixed.precision == pytest.approx((1 + 0.5 + 0) / 3) and mixed.recall == pytest.approx((0.5 + 1 + 0) / 3)  # c enters at 0
    assert mixed.f1 == pytest.approx(0.5)
    alike = analyse([("a", "a"), ("a", "a")], {"a", "b"})  # all one emotion, all right: a 1 x 1 confusion matrix
    assert alike.counts == {"a": SpotCounts(), "b": SpotCounts()}  # the script counts nothing for a (a bug)
    assert alike.f1 == 0.0  # the script: 0 / 0, NaN
    assert analyse([], {"a"}).f1 == 0.0  # no true positive at all


def _row(subject: str, video: str, onset: int, offset: int, emotion: str = "happiness") -> Expression:
    return Expression(subject, video, onset, offset, emotion)


def test_tables_are_scored_per_video_with_subjects_and_videos_left_out_as_the_script_leaves_them() -> None:
    truth = [_row("1", "v1", 0, 9), _row("1", "v1", 5, 14, "surprise"), _row("2", "v1", 0, 9)]
    spotted = [_row("1", "v1", 2, 11), _row("1", "v1", 5, 14, "surprise"), _row("1", "v9", 0, 9)]
    score = score_tables(truth, spotted)
    assert score.spotting == SpotCounts(2, 1, 0)  # the first spotted row takes both coded ones; subject 2 unscored
    assert (score.unscored_truth, score.unscored_spotted) == (1, 1)
    # the happiness row's two true positives: one coded happiness, one coded surprise
    assert score.analysis.counts == {"happiness": SpotCounts(1, 1, 0), "surprise": SpotCounts(0, 0, 1)}
    reordered = score_tables(truth, [spotted[1], spotted[0], spotted[2]])  # rows in the other order: each finds its own
    assert reordered.spotting == SpotCounts(2, 0, 0) and reordered.analysis.counts["surprise"] == SpotCounts(1, 0, 0)


@needs_sample
def test_spot_score_prints_the_official_figures_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spot", "score", "--truth", str(GT), "--spotted", str(PRED)]) == 0
    out = capsys.readouterr().out
    for figure in ("0.6516", "0.5927", "0.3862", "TP 159 / FP 85 / FN 85", "0.5983", "0.5872"):
        assert figure in out
    assert all(e in out for e in SAMPLE_EMOTIONS)
    assert main(["spot", "score", "--truth", str(GT), "--spotted", str(PRED), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["spotting"]["tp"], record["spotting"]["fp"], record["spotting"]["fn"]) == (159, 85, 85)
    assert record["strs"] == pytest.approx(record["sf1"] * record["af1"]) and round(record["strs"], 4) == 0.3862
    assert {e: (c["tp"], c["fp"], c["fn"]) for e, c in record["analysis"]["emotions"].items()} == SAMPLE_EMOTIONS
    assert record["unscored"] == {"truth": 0, "spotted": 0}


def test_spot_score_reads_mixed_case_headers_extra_columns_and_whole_floats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth, spotted = tmp_path / "gt.csv", tmp_path / "pred.csv"
    truth.write_text("Subject,Video,Onset,Offset,Emotion,apex\n006,EP1,10,29,others,20\n")
    spotted.write_text("subject,video,onset,offset,emotion\n6,EP1,10.0,29.0,others\n")
    assert main(["spot", "score", "--truth", str(truth), "--spotted", str(spotted), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["spotting"]["tp"] == 1 and record["unscored"] == {"truth": 0, "spotted": 0}  # subject 006 is 6, as pandas reads it


def test_merauto_spot_keeps_its_options_and_names_spot_score(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spot", "--budget", "0"]) == 2
    assert "--budget 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["spot", "--budjet", "5"])  # a misspelt option's value is not taken for a sub-command
    assert exited.value.code == 2 and "did you mean --budget?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["spot", "--help"])
    assert "merauto spot score --truth GT.csv --spotted PRED.csv [--json]" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["spot", "score", "--help"])
    out = capsys.readouterr().out
    assert all(option in out for option in ("--truth GT.csv", "--spotted PRED.csv", "--json"))
