"""The licensed datasets read from their distributed layouts: the composite's counts, each quirk, class schemes."""

from __future__ import annotations

from pathlib import Path

import pytest
from native_layouts import (
    CASME2_OFFSET_TYPO,
    CASME2_SLASH_APEX,
    SAMM_MISSING_APEX,
    composite_clips,
    write_casme2,
    write_frames,
    write_smic,
)

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import LoadedDataset
from merauto.data.datasets import DatasetRequest, load_dataset, validate_dataset
from merauto.data.locations import DATA_ROOT_ENV, data_root_from, find_source
from merauto.data.synthetic.generator import SyntheticSpec

# docs/datasets.md, "The composite's sources": source -> (samples, subjects, negative, positive, surprise)
COMPOSITE_TABLE = {
    "smic": (164, 16, 70, 51, 43),
    "casme2": (145, 24, 88, 32, 25),
    "samm": (133, 28, 92, 26, 15),
}


@pytest.fixture(scope="module")
def composite(native_root: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedDataset:
    return validate_dataset(DatasetRequest("composite", data_root=native_root), tmp_path_factory.mktemp("cache"))


def _finding(loaded: LoadedDataset, sample_id: str, kind: str) -> str:
    (finding,) = [f for f in loaded.findings if f.sample == sample_id and f.kind == kind]
    return finding.message


def test_composite_from_native_layouts_has_the_documented_counts(composite: LoadedDataset) -> None:
    summary = composite.index.summary()
    assert (summary["samples"], summary["subjects"]) == (442, 68)
    assert summary["classes"] == {"negative": 250, "positive": 109, "surprise": 83}
    for source, (samples, subjects, negative, positive, surprise) in COMPOSITE_TABLE.items():
        counts = summary["sources"][source]
        assert (counts["samples"], counts["subjects"]) == (samples, subjects), source
        assert counts["classes"] == {"negative": negative, "positive": positive, "surprise": surprise}, source
    assert composite.expected == {source: row[0] for source, row in COMPOSITE_TABLE.items()}
    assert not composite.errors


def test_composite_ids_subjects_and_frames_follow_the_csv(composite: LoadedDataset, native_root: Path) -> None:
    index = composite.index
    smic = index.samples[index.position("smic/s01/s01_ne_01")]
    assert smic.subject == "s01" and smic.label == "negative" and smic.fps == 100.0
    assert smic.frames[0] == native_root / "SMIC/SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image046.bmp"
    assert smic.apex is None and (smic.onset, smic.offset) == (0, len(smic.frames) - 1)
    casme2 = index.samples[index.position("casme2/sub01/EP02_01f")]
    assert casme2.frames[0].name.startswith("reg_img") and casme2.fps == 200.0 and casme2.raw_label == "happiness"
    assert casme2.frame_numbers == tuple(sorted(casme2.frame_numbers))
    samm = index.samples[index.position("samm/006/006_1_2")]
    assert samm.subject == "006" and samm.frames[0].name.startswith("006_0") and samm.action_units == "R14 or 12"
    assert (samm.onset, samm.apex, samm.offset) == (0, 1, 3)
    assert "composite" not in {s.dataset for s in index}  # per-source scores stay possible


def test_sheet_quirks_become_warnings_not_failures(composite: LoadedDataset) -> None:
    index = composite.index
    slash = index.samples[index.position("casme2/" + "/".join(CASME2_SLASH_APEX))]
    assert slash.apex is None
    assert "apex not annotated" in _finding(composite, slash.id, kinds.ESTIMATED_APEX)
    samm = index.samples[index.position("samm/" + "/".join(SAMM_MISSING_APEX))]
    assert samm.apex is None
    typo = index.samples[index.position("casme2/" + "/".join(CASME2_OFFSET_TYPO))]
    assert typo.offset == len(typo.frames) - 1
    message = _finding(composite, typo.id, kinds.CLIPPED_RANGE)
    assert "CASME2-coding-20140508.xlsx, row" in message and "offset frame" in message and "clipped" in message
    assert typo.warnings == (message,)
    smic_estimated = [f for f in composite.findings if f.kind == kinds.ESTIMATED_APEX and f.source == "smic"]
    assert len(smic_estimated) == 164


def test_two_intervals_sharing_one_folder_are_two_samples(composite: LoadedDataset) -> None:
    index = composite.index
    first = index.samples[index.position("casme2/sub07/EP06_02_01")]
    second = index.samples[index.position("casme2/sub07/EP06_02_02")]
    assert first.frames == second.frames and first.frames[0].parent.name == "EP06_02"
    assert first.frame_numbers[first.offset] < second.frame_numbers[second.onset]
    assert "EP06_02" in _finding(composite, first.id, kinds.OTHER_FOLDER_NAME)


def test_class_schemes_of_casme2_and_samm(native_root: Path, tmp_path: Path) -> None:
    five = load_dataset(DatasetRequest("casme2", data_root=native_root), tmp_path).index
    assert five.name == "casme2-5class"
    assert five.classes == ("disgust", "happiness", "others", "repression", "surprise")
    assert "casme2/sub01/EP01_01" in five.ids  # an 'others' clip outside the composite
    assert not {"fear", "sadness"} & {s.raw_label for s in five}
    three = load_dataset(DatasetRequest("casme2", data_root=native_root, classes="3"), tmp_path).index
    assert three.classes == ("negative", "positive", "surprise") and "casme2/sub03/EP05_05" in three.ids
    every = load_dataset(DatasetRequest("casme2", data_root=native_root, classes="all"), tmp_path).index
    assert {"fear", "sadness", "others"} <= set(every.classes)
    samm = load_dataset(DatasetRequest("samm", data_root=native_root), tmp_path).index
    assert samm.classes == ("anger", "contempt", "happiness", "other", "surprise")
    assert "samm/006/006_9_9" in samm.ids and not {"disgust", "fear", "sadness"} & {s.raw_label.lower() for s in samm}


def test_smic_on_its_own_uses_native_ids(native_root: Path, tmp_path: Path) -> None:
    smic = load_dataset(DatasetRequest("smic", data_root=native_root), tmp_path).index
    assert len(smic) == 164 and "smic/s1/s1_ne_01" in smic.ids and smic.name == "smic"


def test_data_root_from_the_environment_and_cropped_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clips = [c for c in composite_clips() if c.dataset == "smic"][:2]
    write_smic(tmp_path, clips, cropped=False)
    write_smic(tmp_path, clips, cropped=True)
    found = find_source("smic", tmp_path)
    assert found is not None and found.frames == tmp_path / "SMIC/SMIC_all_cropped/HS"
    assert "(cropped)" in found.origin and "also found" in found.origin and "SMIC_all_raw" in found.origin
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert data_root_from(None) == tmp_path and data_root_from(Path("/x")) == Path("/x")


def test_raw_casme2_layout_and_numeric_frame_order(tmp_path: Path) -> None:
    clip = next(c for c in composite_clips() if c.dataset == "casme2")
    write_casme2(tmp_path, [type(clip)(clip.dataset, clip.subject, clip.sample, clip.raw_label, first=98, n_frames=5)], cropped=False)
    (sample,) = load_dataset(DatasetRequest("casme2", data_root=tmp_path, classes="all"), tmp_path / "cache").index
    assert [p.name for p in sample.frames] == ["img98.jpg", "img99.jpg", "img100.jpg", "img101.jpg", "img102.jpg"]
    assert (sample.onset, sample.apex, sample.offset) == (0, 2, 4)


def test_casme_with_its_own_column_names(tmp_path: Path) -> None:
    casme = tmp_path / "CASME"
    write_frames(casme / "CASME_raw_selected" / "sub01" / "EP01_5", range(10, 14), "img", ".jpg", True, seed=0)
    write_frames(casme / "CASME_raw_selected" / "sub01" / "EP02_1", range(5, 9), "img", ".jpg", True, seed=1)
    write_frames(casme / "CASME_raw_selected" / "sub02" / "EP03_2", range(1, 5), "img", ".jpg", True, seed=2)
    write_frames(casme / "CASME_raw_selected" / "sub03" / "EP04_3", range(1, 5), "img", ".jpg", True, seed=3)
    (casme / "CASME-coding.csv").write_text(
        "Subject,Filename,OnsetF,ApexF1,ApexF2,OffsetF,Duration,AU,Emotion\n1,EP01_5,10,12,,13,4,4,tense\n1,EP02_1,5,7,,8,4,12,happiness\n"
        "2,EP03_2,1,2,,4,4,4,tense\n3,EP04_3,1,3,,4,4,12,happiness\n"
    )
    loaded = load_dataset(DatasetRequest("casme", data_root=tmp_path), tmp_path / "cache")
    assert loaded.index.classes == ("happiness", "tense") and loaded.index.name == "casme" and not loaded.findings
    sample = loaded.index.samples[loaded.index.position("casme/sub01/EP01_5")]
    assert (sample.onset, sample.apex, sample.offset, sample.fps) == (0, 2, 3, 60.0)


def test_data_config_points_at_any_layout(native_root: Path, tmp_path: Path) -> None:
    config = tmp_path / "data.toml"
    config.write_text(
        f'[casme2]\nframes = "{native_root}/CASME2/Cropped"\ncoding = "{native_root}/CASME2/CASME2-coding-20140508.xlsx"\n'
        f'[samm]\nframes = "{native_root}/SAMM"\ncoding = "{native_root}/SAMM/SAMM_Micro_FACS_Codes_v2.xlsx"\n'
        f'[smic]\nframes = "{native_root}/SMIC/SMIC_all_cropped/HS"\n'
    )
    loaded = load_dataset(DatasetRequest("composite", data_config=config), tmp_path)
    assert len(loaded.index) == 442 and not loaded.errors
    assert all(origin.startswith(f"from {config}") for origin in loaded.origins.values())


def test_request_round_trips_and_old_run_files_still_load(native_root: Path, tmp_path: Path) -> None:
    request = DatasetRequest("samm", data_root=native_root, classes="3")
    assert DatasetRequest.from_json(request.to_json()) == request
    assert request.label() == "samm-3class" and DatasetRequest("casme2", data_root=native_root).classes == "5"
    old = {"name": "synthetic", "synthetic": {"size": "tiny", "seed": 0, "amplitude": 1.0, "noise": 1.0, "jitter": 1.0,
           "identity_variation": 1.0, "image_size": 128}}  # fmt: skip
    assert DatasetRequest.from_json(old) == DatasetRequest("synthetic", SyntheticSpec(size="tiny"))
    assert DatasetRequest.from_json(DatasetRequest.from_json(old).to_json()) == DatasetRequest.from_json(old)
