"""Fine-tuning's starting weights: a run's checkpoint, or pre-training on synthetic macro-expressions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

import merauto.evaluator.pretrain as pretrain
import merauto.evaluator.settings as settings
from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.evaluator.model import build_model
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.options import SearchOptions, validate
from merauto.pipeline.config import Choice
from merauto.search_space.presets import PRESETS

FINETUNE = replace(
    PRESETS["ststnet"], strategy=Choice("finetune"), training=replace(PRESETS["ststnet"].training, max_epochs=2, batch_size=8)
)


def test_the_macro_pretraining_data_are_a_population_of_their_own_at_macro_amplitude() -> None:
    spec = settings.PRETRAIN_DATASETS["synthetic-macro"].synthetic
    assert spec.amplitude == settings.MACRO_AMPLITUDE >= 10 and spec.seed == settings.PRETRAIN_SEED != DatasetRequest().synthetic.seed


def test_finetune_pretrains_the_trials_network_on_macro_expressions(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    tiny = DatasetRequest("synthetic", replace(settings.MACRO, size="tiny"))
    monkeypatch.setitem(settings.PRETRAIN_DATASETS, "synthetic-macro", tiny)
    evaluation = EvaluationSettings(pretrain_dataset="synthetic-macro")
    assert pretrain.initial_weights(PRESETS["ststnet"], evaluation, cache_dir) is None  # scratch: nothing to start from
    checkpoint = pretrain.initial_weights(FINETUNE, evaluation, cache_dir)
    model = build_model(FINETUNE, {"flow": (3, 28, 28)}, 3)
    checkpoint.apply(model)
    assert all(torch.equal(v, checkpoint.state[k]) for k, v in model.state_dict().items())
    with pytest.raises(MerautoError, match="init-checkpoint or --pretrain-dataset"):
        pretrain.initial_weights(FINETUNE, EvaluationSettings(), cache_dir)


def test_a_search_names_one_known_source_of_starting_weights(tmp_path: Path) -> None:
    options = SearchOptions(DatasetRequest(), tmp_path / "run", "s", tmp_path / "cache", device="cpu")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    with pytest.raises(MerautoError, match="pass one of them"):
        validate(replace(options, init_checkpoint=checkpoint, pretrain_dataset="synthetic-macro"))
    with pytest.raises(MerautoError, match="unknown"):
        validate(replace(options, pretrain_dataset="imagenet"))
    with pytest.raises(MerautoError, match="no such file"):
        validate(replace(options, init_checkpoint=tmp_path / "missing.pt"))
    validate(replace(options, pretrain_dataset="synthetic-macro"))
