"""Exports that deploy (every registered component's export: tests/test_onnx_registry.py): capsules of any
length squash in ONNX as in torch; a part that cannot export is named; an export folder holds no pickle,
is verified before it is renamed into place (and left unwritten when verification fails), loads older
``model.pt`` exports, and predicts the same with either runtime, from folders or a CSV of annotated
clips, with scores when the CSV has labels; onnxruntime writes nothing to the home folder."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import safetensors.torch
import torch
from conftest import TINY

import merauto
from merauto.cli import main
from merauto.data.checks.validation import frame_size
from merauto.data.clip_list import NewClip, check_labels, read_clip_list
from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError
from merauto.evaluator.blocks.capsule import squash
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.metrics import scores
from merauto.evaluator.model import build_model
from merauto.evaluator.nested import EvalData
from merauto.evaluator.onnx_model import export_onnx, onnx_latency_ms, onnx_session, run_onnx, torch_logits
from merauto.evaluator.strategies import Checkpoint
from merauto.evaluator.weights_file import load_weights, save_weights
from merauto.pipeline.config import Choice
from merauto.results.export import folder as export_folder
from merauto.results.export.files import LEGACY_WEIGHTS_FILE, ONNX_FILE, WEIGHTS_FILE
from merauto.results.export.folder import ONNX_ATOL, ONNX_RTOL, write_export
from merauto.results.export.pipeline import ExportedPipeline
from merauto.search_space.presets import PRESETS

STSTNET = PRESETS["ststnet"]
FLOW = {"flow": (3, 12, 12)}


class _Squash(torch.nn.Module):
    """The capsule block's non-linearity on a (N, D) stream of vectors."""

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return squash(inputs["vectors"], dim=1)


def test_short_capsules_are_squashed_in_onnx_as_in_torch(tmp_path: Path) -> None:
    # |s|^2 from 1e-14 to 1e6: where it is near the eps of sqrt(|s|^2 + eps), an export that dropped eps differed by up to 1e6x
    lengths = np.logspace(-7, 3, 41, dtype=np.float32)
    vectors = np.random.default_rng(0).standard_normal((41, 4)).astype(np.float32)
    vectors *= (lengths / np.linalg.norm(vectors, axis=1))[:, None]
    export_onnx(_Squash(), {"vectors": (4,)}, tmp_path / "squash.onnx")
    expected = torch_logits(_Squash(), {"vectors": vectors})
    np.testing.assert_allclose(run_onnx(onnx_session(tmp_path / "squash.onnx"), {"vectors": vectors}), expected, rtol=1e-5, atol=0)
    unscaled = torch.from_numpy(vectors).square().sum(1, keepdim=True)
    reference = torch.from_numpy(vectors) * unscaled / (1 + unscaled) / torch.sqrt(unscaled + 1e-8)
    assert torch.equal(torch.from_numpy(expected), reference), "torch computes sqrt(|s|^2 + eps) as it did, to the bit"


class _BranchesOnValues(torch.nn.Module):
    """A head that branches in Python on a tensor's value: torch.export cannot trace it."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(features, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if x.sum() > 0 else -self.linear(x)


def test_a_part_that_cannot_export_is_named_with_the_reason(tmp_path: Path) -> None:
    model = build_model(STSTNET, FLOW, 3)
    model.head = _BranchesOnValues(model.feature_dim)
    with pytest.raises(MerautoError) as raised:
        export_onnx(model, FLOW, tmp_path / "model.onnx")
    problem = raised.value.problem
    assert "part head (" in problem and "_BranchesOnValues" in problem and "data-dependent" in problem, problem
    assert not (tmp_path / "model.onnx").exists()


def test_an_opset_the_exporter_cannot_write_is_refused(tmp_path: Path) -> None:
    stacked = replace(STSTNET, topology=Choice("stacked", {"depth": 2, "width": 4}))  # its conversion from opset 18 to 17 fails
    with pytest.raises(MerautoError, match="could not write opset 17"):
        export_onnx(build_model(stacked, FLOW, 3), FLOW, tmp_path / "model.onnx", opset=17)


def test_latency_is_the_median_of_single_clip_runs() -> None:
    latency = onnx_latency_ms(build_model(STSTNET, FLOW, 3), FLOW, repeats=5)
    assert 0 < latency < 1000


# ----------------------------------------------------------------------------- export folders
def _export(tiny_index: SampleIndex, tiny_flow: EvalData, out_dir: Path) -> Path:
    """The STSTNet preset trained two epochs on every tiny clip, written as an export."""
    models = ModelSet(STSTNET, tiny_flow.inputs, tiny_flow.labels, [Member(np.arange(len(tiny_flow.labels)), 0)], 3, torch.device("cpu"))
    for _ in range(2):
        models.train_epoch([True])
    network = build_model(STSTNET, {k: v.shape[1:] for k, v in tiny_flow.inputs.items()}, 3)
    network.load_state_dict(models.state_dict(0))
    pipeline = {
        "merauto_version": merauto.__version__,
        "config": STSTNET.to_dict(),
        "classes": list(tiny_flow.classes),
        "trained_on": {
            "dataset": TINY.label(),
            "clips": len(tiny_index),
            "frame_sizes": sorted({frame_size(s.frames[0]) for s in tiny_index}),
        },
    }
    return write_export(out_dir, pipeline, network, models.standardisers[0], tiny_flow.inputs)


@pytest.fixture(scope="module")
def exported(tiny_index: SampleIndex, tiny_flow: EvalData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tiny_index, tiny_flow, tmp_path_factory.mktemp("export") / "trial-0")


PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin"}


def test_an_export_holds_safetensors_onnx_and_json_and_no_pickle(exported: Path) -> None:
    files = {p.name: p.read_bytes() for p in exported.iterdir()}
    assert set(files) == {"pipeline.json", "preprocessing.json", WEIGHTS_FILE, ONNX_FILE}
    assert not {Path(name).suffix for name in files} & PICKLE_SUFFIXES
    for name, data in files.items():
        if name == WEIGHTS_FILE:  # safetensors: an 8-byte header length, then a JSON header, then raw tensor bytes
            (length,) = struct.unpack("<Q", data[:8])
            assert data[8:9] == b"{" and json.loads(data[8 : 8 + length])
        else:
            assert not (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), f"{name} starts like a pickle"
        assert not data.startswith(b"PK\x03\x04"), f"{name} is a zip archive (torch.save's format, which holds a pickle)"
    assert all(isinstance(json.loads(files[name]), dict) for name in ("pipeline.json", "preprocessing.json"))
    onnx.checker.check_model(onnx.load_from_string(files[ONNX_FILE]))
    package = str(Path(merauto.__file__).parent).encode()
    assert package not in files[ONNX_FILE] and b'File "' not in files[ONNX_FILE], "the ONNX model carries stack traces naming local files"


def test_the_weights_load_anywhere_and_pipeline_json_records_the_onnx_check(exported: Path, tiny_flow: EvalData) -> None:
    network = build_model(STSTNET, {"flow": (3, 28, 28)}, 3)
    network.load_state_dict(safetensors.torch.load_file(exported / WEIGHTS_FILE))  # plain state_dict names, no merauto reader needed
    assert Checkpoint.load(exported / WEIGHTS_FILE).state.keys() == network.state_dict().keys()  # fine-tuning starts from it
    record = json.loads((exported / "pipeline.json").read_text())["onnx"]
    assert record["opset"] == 18 and onnx.load(exported / ONNX_FILE).opset_import[0].version == 18
    check = record["verification"]
    assert check["clips"] == len(tiny_flow.labels) and (check["atol"], check["rtol"]) == (ONNX_ATOL, ONNX_RTOL)
    assert 0 <= check["max_abs_difference"] < ONNX_ATOL


def test_both_runtimes_give_the_same_predictions(exported: Path, tiny_flow: EvalData) -> None:
    by_torch = ExportedPipeline.load(exported).predict_proba(tiny_flow.inputs)
    by_onnx = ExportedPipeline.load(exported, runtime="onnx").predict_proba(tiny_flow.inputs)
    assert np.array_equal(by_torch.argmax(1), by_onnx.argmax(1))
    np.testing.assert_allclose(by_onnx, by_torch, atol=1e-5)


def test_an_older_export_with_model_pt_still_loads_without_unpickling(exported: Path, tiny_flow: EvalData, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(exported, old)
    torch.save(load_weights(old / WEIGHTS_FILE), old / LEGACY_WEIGHTS_FILE)
    (old / WEIGHTS_FILE).unlink()
    (old / ONNX_FILE).unlink()
    expected = ExportedPipeline.load(exported).predict_proba(tiny_flow.inputs)
    np.testing.assert_array_equal(ExportedPipeline.load(old).predict_proba(tiny_flow.inputs), expected)
    with pytest.raises(MerautoError, match="has no model.onnx"):
        ExportedPipeline.load(old, runtime="onnx")


def test_an_onnx_model_that_disagrees_fails_the_export_and_leaves_the_folder_as_it_was(
    exported: Path, tiny_index: SampleIndex, tiny_flow: EvalData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def corrupted(model: torch.nn.Module, shapes: dict[str, tuple[int, ...]], path: Path, opset: int) -> None:
        export_onnx(model, shapes, path, opset)
        proto = onnx.load(path)
        weight = next(t for t in proto.graph.initializer if t.name == "head.weight")
        weight.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weight) * 1.5, weight.name))
        onnx.save(proto, path)

    monkeypatch.setattr(export_folder, "export_onnx", corrupted)
    fresh = tmp_path / "export" / "trial-1"
    with pytest.raises(MerautoError) as raised:
        _export(tiny_index, tiny_flow, fresh)
    problem = raised.value.problem
    assert problem.startswith("nothing exported:") and f"{fresh / ONNX_FILE}: onnxruntime's logits differ from torch's" in problem
    assert f"tolerance {ONNX_ATOL:g} + {ONNX_RTOL:g}" in problem
    assert list((tmp_path / "export").iterdir()) == [], "no export folder and no partial folder is left"

    earlier = tmp_path / "earlier"
    shutil.copytree(exported, earlier)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    with pytest.raises(MerautoError, match="nothing exported"):
        _export(tiny_index, tiny_flow, earlier)
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before, "an earlier export stays whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "export"]


# ----------------------------------------------------------------------------- predict
def _clip_csv(tiny_index: SampleIndex, path: Path, labels: bool = True) -> Path:
    """A --clips-csv of the tiny clips, each with its own frame numbers (and label)."""
    lines = ["folder,onset,apex,offset" + (",label" if labels else "")]
    for s in tiny_index:
        apex = s.frame_numbers[s.apex] if s.apex is not None else ""
        folder = s.frames[0].parent
        row = f"{folder},{s.frame_numbers[s.onset]},{apex},{s.frame_numbers[s.offset]}"
        lines.append(row + (f",{s.label}" if labels else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def _predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[list[str]], str]:
    code = main(["predict", *args])
    out = capsys.readouterr()
    return code, [line.split(",") for line in out.out.strip().splitlines()], " ".join(out.err.split())


def _says(err: str, text: str) -> bool:
    """Whether ``err`` holds ``text`` wherever rich wrapped the line (it may break a long path at a hyphen)."""
    return "".join(text.split()) in "".join(err.split())


def test_predict_gives_the_same_labels_with_either_runtime_and_scores_labelled_clips(
    exported: Path, tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = _clip_csv(tiny_index, tmp_path / "clips.csv")
    results = {}
    for runtime in ("torch", "onnx"):
        code, rows, err = _predict(capsys, str(exported), "--clips-csv", str(clips), "--runtime", runtime, "--cache-dir", str(cache_dir))
        assert code == 0, err
        results[runtime] = (rows, err)
    (rows, err), (onnx_rows, onnx_err) = results["torch"], results["onnx"]
    assert rows[0][:2] == ["clip", "label"] and len(rows) == len(tiny_index) + 1
    assert [r[1] for r in rows] == [r[1] for r in onnx_rows]
    classes = list(tiny_index.classes)
    truth = np.array([classes.index(s.label) for s in tiny_index])
    expected = scores(truth, np.array([classes.index(r[1]) for r in rows[1:]]), len(classes))
    line = f"{len(tiny_index)} labelled clip(s): UF1 {expected['uf1']:.4f}, UAR {expected['uar']:.4f}, accuracy {expected['accuracy']:.4f}"
    assert line in err and line in onnx_err, err


def test_predict_of_folders_prints_no_scores(
    exported: Path, tiny_index: SampleIndex, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = next(iter(tiny_index))
    folder = sample.frames[0].parent
    code, rows, err = _predict(
        capsys, str(exported), str(folder), str(folder), "--apex", str(sample.frame_numbers[-2]), "--cache-dir", str(cache_dir)
    )
    assert code == 0 and len(rows) == 3 and rows[1] == rows[2], err  # the same folder twice is classified twice
    assert "UF1" not in err


def test_predict_refuses_a_label_the_export_lacks_and_a_csv_beside_folders(
    exported: Path, tiny_index: SampleIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = _clip_csv(tiny_index, tmp_path / "clips.csv")
    lines = clips.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",happy"
    clips.write_text("\n".join(lines) + "\n")
    code, _, err = _predict(capsys, str(exported), "--clips-csv", str(clips))
    assert code == 2 and _says(err, f"{clips}, line 4, column label ('happy'): not a class of the export"), err
    assert "negative, positive, surprise" in err
    code, _, err = _predict(capsys, str(exported), str(tmp_path), "--clips-csv", str(clips))
    assert code == 2 and "--clips-csv" in err and "fix:" in err


def test_predict_on_a_run_folder_points_to_its_export_and_names_a_missing_clip_folder_as_a_clip_folder(
    exported: Path, tiny_index: SampleIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "merauto.json").write_text(json.dumps({"study_name": "s"}))
    clip = str(next(iter(tiny_index)).frames[0].parent)
    code, _, err = _predict(capsys, str(run), clip)
    assert code == 2 and _says(err, f"{run} is the run folder of a search and holds no export"), err
    assert _says(err, f"fix: run merauto export {run} first, then pass the folder it writes, {run / 'export'}/trial-N"), err
    shutil.copytree(exported, run / "export" / "trial-0")
    code, _, err = _predict(capsys, str(run), clip)
    assert code == 2 and _says(err, f"{run} is the run folder of a search, not an export"), err
    assert _says(err, f"fix: pass one of its exports: {run / 'export' / 'trial-0'}"), err

    code, _, err = _predict(capsys, str(exported), clip, str(tmp_path / "nowhere"))
    assert code == 2 and _says(err, f"clip folder {tmp_path / 'nowhere'}: no such folder") and "--folder" not in err, err


EXPORT_AND_VERIFY = """
import sys
from pathlib import Path

import numpy as np

import merauto
from merauto.evaluator.fitted import Standardiser
from merauto.evaluator.model import build_model
from merauto.results.export.folder import write_export
from merauto.search_space.presets import PRESETS

inputs = {"flow": np.random.default_rng(0).standard_normal((4, 3, 12, 12)).astype(np.float32)}
pipeline = {"merauto_version": merauto.__version__, "config": PRESETS["ststnet"].to_dict(), "classes": ["a", "b", "c"]}
model = build_model(PRESETS["ststnet"], {"flow": (3, 12, 12)}, 3)
write_export(Path(sys.argv[1]), pipeline, model, Standardiser.fit(inputs, np.arange(4)), inputs)
"""


def test_exporting_and_predicting_with_onnxruntime_write_nothing_to_the_home_folder(
    exported: Path, tiny_index: SampleIndex, cache_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # a fresh interpreter as a user's, onnxruntime's telemetry switch left to merauto and its cache to $HOME
    unset = {"ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MERAUTO_CACHE"}
    env = {name: value for name, value in os.environ.items() if name not in unset} | {"HOME": str(home)}
    # what merauto export does with the refit network: ONNX written, then checked in onnxruntime against torch
    subprocess.run([sys.executable, "-c", EXPORT_AND_VERIFY, str(tmp_path / "export")], env=env, check=True, timeout=300)
    assert (tmp_path / "export" / ONNX_FILE).is_file()
    clip = str(next(iter(tiny_index)).frames[0].parent)
    predict = [sys.executable, "-m", "merauto", "predict", str(exported), clip, "--runtime", "onnx", "--cache-dir", str(cache_dir)]
    predicted = subprocess.run(predict, env=env, capture_output=True, text=True, timeout=300)
    assert predicted.returncode == 0 and predicted.stdout.startswith("clip,label"), predicted.stderr
    assert sorted(home.rglob("*")) == []


# ----------------------------------------------------------------------------- the CSV of clips
def _frames(folder: Path, numbers: range = range(1, 6)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}.png"), np.full((8, 8), 100, np.uint8))
    return folder


CSV_ERRORS = [
    ("onset,apex\n1,2\n", "has no folder column"),
    ("folder,apx\nclip,3\n", "unknown column(s) 'apx'"),
    ("folder,onset\n", "lists no clips"),
    ("folder,onset\nclip,1\n,2\n", "line 3, column folder: empty"),
    ("folder,onset\nclip,1a\n", "line 2, column onset ('1a'): not a frame number"),
    ("folder,onset\nclip,-1\n", "line 2, column onset ('-1'): not a frame number"),
    ("folder,apex\nclip,9\n", "line 2, column apex (9): "),
    ("folder,onset,offset\nclip,4,2\n", "line 2, column offset (2): the offset is not after the onset"),
    ("folder,onset,apex\nclip,3,2\n", "line 2, column apex (2): the apex lies outside the clip"),
    ("folder\nnowhere\n", "line 2, column folder ("),
    ("folder,label\nclip,a,b\n", "line 2: 3 cells, but the header names 2 columns"),
]


@pytest.mark.parametrize(("text", "expected"), CSV_ERRORS, ids=[e for _, e in CSV_ERRORS])
def test_a_bad_clip_csv_is_refused_naming_the_file_line_and_column(text: str, expected: str, tmp_path: Path) -> None:
    _frames(tmp_path / "clip")
    path = tmp_path / "clips.csv"
    path.write_text(text)
    with pytest.raises(MerautoError) as raised:
        read_clip_list(path)
    assert str(path) in raised.value.problem and expected in raised.value.problem, raised.value.problem
    assert raised.value.fix


def test_a_clip_csv_resolves_folders_against_its_own_folder_and_reads_empty_cells_as_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _frames(tmp_path / "data" / "clips" / "a")
    absolute = _frames(tmp_path / "elsewhere" / "b", range(10, 15))
    path = tmp_path / "data" / "clips.csv"
    path.write_text(f"folder,onset,apex,offset,label\nclips/a,,,,positive\n{absolute},11.0,12,14,\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    first, second = read_clip_list(path)
    assert first == NewClip(tmp_path / "data" / "clips" / "a", None, None, None, "positive", f"{path}, line 2")
    assert (second.folder, second.onset, second.apex, second.offset, second.label) == (absolute, 11, 12, 14, None)
    sample = second.sample("x")
    assert (sample.onset, sample.apex, sample.offset) == (1, 2, 4)
    check_labels([first, second], ("negative", "positive"), "e")
    with pytest.raises(MerautoError, match=r"line 2, column label \('positive'\): not a class of the export e \(negative\)"):
        check_labels([first], ("negative",), "e")


def test_weights_round_trip_through_safetensors(tmp_path: Path) -> None:
    model = build_model(STSTNET, FLOW, 3)
    statistics = {"flow": {"mean": [0.1, 0.2, 0.3], "std": [1.0, 2.0, 3.0]}}
    save_weights(tmp_path / WEIGHTS_FILE, model.state_dict(), statistics, {"flow": [3, 12, 12]})
    weights = load_weights(tmp_path / WEIGHTS_FILE)
    assert weights["standardiser"] == statistics and weights["stream_shapes"] == {"flow": [3, 12, 12]}
    assert all(torch.equal(weights["state_dict"][k], v) for k, v in model.state_dict().items())
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(MerautoError, match="cannot load"):
        load_weights(tmp_path / "broken.safetensors")
