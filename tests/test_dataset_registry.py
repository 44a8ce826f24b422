"""A new dataset is one module: it registers a :class:`Dataset` (name, description, reader, class
schemes) and every command then loads, checks and lists it.

The module below is what a contributor would add as ``merauto/data/datasets/mydata.py`` (and import
in the package's ``__init__``); here it is imported from a temporary folder and unregistered afterwards.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from merauto.cli import main
from merauto.data.datasets import DATASETS, DatasetRequest, load_index, register
from merauto.data.locations import NATIVE_LAYOUTS
from merauto.errors import MerautoError

MODULE = '''
"""mydata: a licensed set whose clips a CSV manifest lists (here: the tiny synthetic set's)."""

from pathlib import Path

from merauto.data.datasets.core import Dataset, licensed_config, register
from merauto.data.labels import ClassScheme, identity
from merauto.data.locations import NativeLayout, locate
from merauto.data.manifest import read_manifest
from merauto.data.synthetic.generator import SyntheticSpec, ensure_generated


def read(request, cache_dir, progress):
    location = locate("mydata", request.data_root, licensed_config(request))  # found by its layout under --data-root
    assert location.frames.name == "MyLab_frames"
    manifest = ensure_generated(SyntheticSpec(size="tiny"), cache_dir, progress)
    return read_manifest(manifest, request.label(), MYDATA.class_schemes[request.classes].classes(set()))


MYDATA = register(
    Dataset(
        "mydata",
        "my lab's clips (licensed; --data-root)",
        read,
        {"3": ClassScheme("negative, positive, surprise", identity("negative", "positive", "surprise")), "2": ClassScheme("two")},
        ("mydata",),
        NativeLayout("My lab's set", ("MyLab_frames",), (), r"p\\d+", "MyLab_frames/p01/clip1/0001.png"),
    )
)
'''


@pytest.fixture
def mydata(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "mydata.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("mydata", path)
    assert spec is not None and spec.loader is not None
    before, layouts = dict(DATASETS), dict(NATIVE_LAYOUTS)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    try:
        yield "mydata"
    finally:
        DATASETS.clear()
        DATASETS.update(before)
        NATIVE_LAYOUTS.clear()
        NATIVE_LAYOUTS.update(layouts)


def test_the_registry_holds_every_dataset_the_default_first() -> None:
    assert list(DATASETS)[0] == "synthetic"
    assert {"synthetic", "composite", "casme2", "samm", "smic", "casme", "manifest"} == set(DATASETS)
    licensed = {name for name, dataset in DATASETS.items() if dataset.licensed}
    assert licensed == {"composite", "casme2", "samm", "smic", "casme"}
    assert DATASETS["casme2"].default_scheme == "5" and DATASETS["composite"].sources == ("casme2", "samm", "smic")
    with pytest.raises(ValueError, match="dataset 'samm' is registered twice"):
        register(DATASETS["samm"])  # a second module of the same name would silently replace the first


def test_a_dataset_in_one_module_is_requested_loaded_checked_and_listed(
    mydata: str, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lab" / "MyLab_frames" / "p01" / "clip1").mkdir(parents=True)
    request = DatasetRequest(mydata, data_root=tmp_path)
    assert request.classes == "3" and request.label() == "mydata-3class", "its first scheme is the default"
    index = load_index(request, cache_dir)
    assert index.classes == ("negative", "positive", "surprise") and len(index.samples) > 20
    with pytest.raises(MerautoError, match="--classes '5' is not a class scheme of mydata"):
        DatasetRequest(mydata, classes="5", data_root=tmp_path)
    monkeypatch.delenv("MERAUTO_DATA_ROOT", raising=False)
    with pytest.raises(MerautoError, match="needs the licensed My lab's set data.*looks for My lab's set: a folder named MyLab_frames"):
        load_index(DatasetRequest(mydata), cache_dir)
    assert main(["datasets", "list"]) == 0
    listed = capsys.readouterr().out
    assert "mydata: my lab's clips (licensed; --data-root)" in listed and "--classes 2: two" in listed
    assert "mydata: not found; looks for My lab's set: a folder named MyLab_frames" in listed
    assert main(["datasets", "check", "--dataset", mydata, "--data-root", str(tmp_path), "--cache-dir", str(cache_dir)]) == 0
