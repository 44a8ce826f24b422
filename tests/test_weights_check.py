"""--init-checkpoint is checked in the preflight, without torch: the files merauto export writes pass,
anything else is refused naming the option, instead of failing every trial that fine-tunes from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from merauto.errors import MerautoError
from merauto.evaluator.weights_check import check_weights_file
from merauto.evaluator.weights_file import save_weights


def test_the_weights_merauto_writes_pass(tmp_path: Path) -> None:
    save_weights(tmp_path / "model.safetensors", {"head.weight": torch.zeros(3, 4)}, {}, {"flow": [3, 8, 8]})
    torch.save({"state_dict": {"head.weight": torch.zeros(3, 4)}}, tmp_path / "model.pt")
    torch.save({"state_dict": {"head.weight": torch.zeros(3, 4)}}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    for name in ("model.safetensors", "model.pt", "old.pt"):
        check_weights_file(tmp_path / name)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("model.pt", b"epochs: 20\n", "neither a torch.save file nor safetensors"),
        ("model.safetensors", b"epochs: 20\n", "announce a header of"),
        ("model.safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "it holds no tensors"),
        ("model.safetensors", b"\x04\x00\x00\x00\x00\x00\x00\x00[1] ", "not a table of tensors"),
    ],
)
def test_other_files_are_refused_naming_the_option(tmp_path: Path, name: str, content: bytes, why: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(MerautoError, match="--init-checkpoint") as refused:
        check_weights_file(tmp_path / name)
    assert why in refused.value.problem and "merauto export" in refused.value.fix


def test_a_truncated_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_weights(path, {"head.weight": torch.zeros(30, 40)}, {}, {})
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MerautoError, match="the file is truncated"):
        check_weights_file(path)
