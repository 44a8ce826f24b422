"""The settings of an evaluation that a command checks before any training code is imported:
the protocol every trial of a study shares, how to execute it, and the pre-training datasets."""

from __future__ import annotations

from dataclasses import dataclass

from merauto.data.datasets import DatasetRequest
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.protocol import InnerSpec, OuterSpec

MODES = ("auto", "vmap", "loop")  # how a trial's fold models train: batched (vmap) or one by one (loop)

MACRO_AMPLITUDE = 10.0  # about 10x the micro-expression displacement: macro-expressions (SyntheticSpec)
PRETRAIN_SEED = 7_919_000  # a generated population of its own, not one an evaluation is likely to use
MACRO = SyntheticSpec(size="small", seed=PRETRAIN_SEED, amplitude=MACRO_AMPLITUDE)
PRETRAIN_DATASETS = {"synthetic-macro": DatasetRequest("synthetic", MACRO)}  # what --pretrain-dataset names


@dataclass(frozen=True)
class EvaluationSettings:
    """Protocol settings shared by every trial of a study, plus how to execute them."""

    inner: InnerSpec = InnerSpec("holdout", 0.25)
    refit: bool = True
    seed: int = 0
    device: str = "cpu"
    outer: OuterSpec = OuterSpec()
    fold_batching: str = "auto"
    amp: bool = False  # bfloat16 autocast of forward passes on CUDA (ignored on the CPU)
    init_checkpoint: str | None = None  # model.safetensors (or model.pt) that strategy=finetune starts from (part of the protocol)
    pretrain_dataset: str | None = None  # or: the dataset finetune pre-trains on, once per trial (part of the protocol)
    audit: bool = False  # also train each fold's test model to the maximum epochs, recording its test predictions per epoch
    canary: str | None = None  # the leak canary (merauto.evaluator.canary): folds one by one, each fold's test rows corrupted in it
