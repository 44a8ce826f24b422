"""The weights ``strategy=finetune`` starts from: a run's checkpoint, or pre-training on macro-expressions.

``--pretrain-dataset synthetic-macro`` trains the trial's network, once per trial before the
nested evaluation, on every clip of a separate synthetic data set at macro-expression
amplitude: its own generated population (another generator seed), never the evaluation data,
so no evaluation subject can reach a selection through it. The whole network is pre-trained
(trunks, fusion and classifier), so the evaluation classes must be the generator's three.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from merauto.data.cache import FeatureCache
from merauto.data.datasets import load_index
from merauto.data.features import inputs_for
from merauto.errors import MerautoError
from merauto.evaluator.engine import Member, ModelSet
from merauto.evaluator.settings import PRETRAIN_DATASETS, EvaluationSettings
from merauto.evaluator.strategies import STRATEGIES, Checkpoint
from merauto.pipeline.config import IDENTITY_CHOICES, Choice, PipelineConfig


def initial_weights(config: PipelineConfig, evaluation: EvaluationSettings, cache_dir: Path) -> Checkpoint | None:
    """The checkpoint ``config`` starts from (``None`` unless its strategy fine-tunes)."""
    if not STRATEGIES.get(config.strategy.name).initialises:
        return None
    if evaluation.init_checkpoint is not None:
        return Checkpoint.load(evaluation.init_checkpoint)
    if evaluation.pretrain_dataset is not None:
        return pretrain(config, evaluation.pretrain_dataset, cache_dir, evaluation.seed, torch.device(evaluation.device))
    raise MerautoError(f"strategy {config.strategy.name} needs weights to start from", "pass --init-checkpoint or --pretrain-dataset")


def pretrain(config: PipelineConfig, dataset: str, cache_dir: Path, seed: int, device: torch.device) -> Checkpoint:
    """``config``'s network (main task only, from scratch) trained on every clip of ``dataset``
    for its ``max_epochs``."""
    if dataset not in PRETRAIN_DATASETS:
        raise MerautoError(
            f"--pretrain-dataset {dataset!r} is not a pre-training dataset", f"choose one of: {', '.join(PRETRAIN_DATASETS)}"
        )
    index = load_index(PRETRAIN_DATASETS[dataset], cache_dir)
    inputs = inputs_for(config, index, FeatureCache(cache_dir))
    plain = replace(config, tasks=Choice(IDENTITY_CHOICES["tasks"]), strategy=Choice(IDENTITY_CHOICES["strategy"]))
    models = ModelSet(plain, inputs, index.labels, [Member(np.arange(len(index)), seed)], len(index.classes), device)
    for _ in range(plain.training.max_epochs):
        models.train_epoch([True])
    return Checkpoint(f"pre-training on {dataset}", models.state_dict(0))
