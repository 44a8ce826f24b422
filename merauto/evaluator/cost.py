"""What a trial will cost, known before it trains: the work it will do, and seconds fitted to work.

The work of a trial is counted, not guessed: one training step of the trial's own model set
(its network, augmentation, auxiliary heads, losses and optimiser, on its own inputs) is run
under ``torch.utils.flop_counter`` and a dispatch counter, with one member and with two, which
gives the FLOPs and ATen operators each stepping member adds and the operators a step costs
once; one inference chunk is counted the same way. (For networks this small the fixed cost of
each operator, not the arithmetic, is most of the time.) Both are multiplied out over what the
protocol trains: every inner model, refit and audit test model on its rows (``training.seeds``
of each under seed bagging), a distillation teacher's models, and the inner-validation
predictions after each epoch, all to the epoch limit. Early stopping ends most trials sooner,
so the work is an upper bound; the calibration absorbs how much of it a typical trial does.

:class:`CostModel` turns work into seconds, ``seconds = a + b * GFLOP + c * Mops`` (a: a trial's
fixed cost; a, b, c >= 0), fitted on the trials already finished on the same kind of device by
non-negative least squares on relative error. Before three trials have finished it scales a
prior (measured on one core of the project machine) by the median ratio seen so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from merauto.evaluator.engine import INFERENCE_ROWS, Member, ModelSet, resolve_mode
from merauto.evaluator.nested import EvalData, training_rows
from merauto.evaluator.settings import EvaluationSettings
from merauto.evaluator.strategies import STRATEGIES, Scratch
from merauto.pipeline.config import Choice, PipelineConfig, TrainingConfig

MIN_FIT_TRIALS = 4  # finished trials before the four coefficients are fitted (before: the prior, scaled)
PRIOR = (0.5, 0.008, 2.9, 1.0)  # s per trial, per GFLOP, per million operators, per 1e9 elements returned: one core of the project machine


@dataclass(frozen=True)
class TrialWork:
    """What a trial does if every model trains to its epoch limit."""

    gflop: float  # training and validation FLOPs, in 1e9
    mops: float  # ATen operators dispatched by those passes, in 1e6
    gelements: float = 0.0  # elements of the tensors those operators return, in 1e9

    def features(self) -> np.ndarray:
        return np.array([1.0, self.gflop, self.mops, self.gelements])

    def __add__(self, other: TrialWork) -> TrialWork:
        return TrialWork(self.gflop + other.gflop, self.mops + other.mops, self.gelements + other.gelements)


def device_kind(device: torch.device, threads: int) -> str:
    """The kind of device a calibration holds for: ``cpu x2`` or the CUDA device's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu x{threads}"


class _OperatorCounter(TorchDispatchMode):
    """ATen operators dispatched and the elements of the tensors they return (memory traffic:
    what batch norm, pooling and augmentation cost, which FLOPs do not see)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.elements = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        self.elements += sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
        return out


@dataclass(frozen=True)
class StepCost:
    """What one lock-step of a model set costs, counted on the engine itself (augmentation,
    auxiliary heads, losses and the optimiser update included): what each stepping member adds,
    what the step costs once whatever the members (the update of the stacked weights; under vmap,
    most of it), and one inference chunk's forward pass."""

    member_gflop: float
    member_ops: int
    member_gelements: float
    fixed_ops: int
    forward_gflop_per_clip: float
    forward_gelements_per_clip: float
    forward_ops: int  # per member and chunk of up to INFERENCE_ROWS clips


def step_cost(config: PipelineConfig, data: EvalData, device: torch.device, mode: str) -> StepCost:
    """Count one training step of one and of two members (each on one batch of rows) and one
    inference chunk, on ``data``'s own inputs and auxiliary targets."""
    if STRATEGIES.get(config.strategy.name).initialises:  # starting weights change no cost: count it from scratch
        config = replace(config, strategy=Choice(Scratch.name))
    batch = min(config.training.batch_size, len(data.labels))
    rows = np.random.default_rng(0).permutation(len(data.labels))
    batches = [rows[m * batch : (m + 1) * batch] if (m + 1) * batch <= len(rows) else rows[:batch] for m in range(2)]
    counts = []
    for n_members in (1, 2):
        members = [Member(np.sort(batches[m]), m) for m in range(n_members)]
        models = ModelSet(config, data.inputs, data.labels, members, data.n_classes, device, mode, targets=data.row_targets())
        with FlopCounterMode(display=False) as flops, _OperatorCounter() as ops:
            models.train_epoch([True] * n_members)
        counts.append((flops.get_total_flops() / 1e9, ops.ops, ops.elements / 1e9))
    chunk = np.sort(rows[:INFERENCE_ROWS])
    with FlopCounterMode(display=False) as flops, _OperatorCounter() as forward:
        models.predict_proba([0], [chunk])
    (one_gflop, one_ops, one_gelements), (two_gflop, two_ops, two_gelements) = counts
    member_ops = max(0, two_ops - one_ops)
    return StepCost(
        member_gflop=two_gflop - one_gflop,
        member_ops=member_ops,
        member_gelements=max(0.0, two_gelements - one_gelements),
        fixed_ops=max(0, one_ops - member_ops),
        forward_gflop_per_clip=flops.get_total_flops() / 1e9 / len(chunk),
        forward_gelements_per_clip=forward.elements / 1e9 / len(chunk),
        forward_ops=forward.ops,
    )


def trial_work(config: PipelineConfig, data: EvalData, settings: EvaluationSettings, device: torch.device) -> TrialWork:
    """The work of evaluating ``config`` on ``data`` under ``settings`` (every fold), see the module docstring."""
    mode = resolve_mode(settings.fold_batching, device)
    member_rows, validation_rows, test_model_rows = training_rows(data, settings, config.training.seeds)
    step = step_cost(config, data, device, mode)
    work = _model_set_work(step, config.training, member_rows, validation_rows)
    work = work + _model_set_work(step, config.training, test_model_rows, [])
    teacher = STRATEGIES.get(config.strategy.name).teacher(config, config.strategy.params)
    if teacher is not None:  # each model set first trains one teacher per model on the same rows, then predicts them
        teacher_step = step_cost(teacher, data, device, mode)
        for models in (member_rows, test_model_rows):
            work = work + _model_set_work(teacher_step, teacher.training, models, [])
            work = work + _model_set_work(teacher_step, replace(teacher.training, max_epochs=1), [], models)
    return work


def _model_set_work(step: StepCost, training: TrainingConfig, models: Sequence[int], validation: Sequence[int]) -> TrialWork:
    """One model set training a model on each of ``models`` rows for ``training.max_epochs``, and
    predicting ``validation`` rows (one count per model) after each epoch."""
    member_steps = [math.ceil(rows / training.batch_size) for rows in models]
    chunks = sum(math.ceil(rows / INFERENCE_ROWS) for rows in validation)
    gflop = step.member_gflop * sum(member_steps) + step.forward_gflop_per_clip * sum(validation)
    ops = step.member_ops * sum(member_steps) + step.fixed_ops * max(member_steps, default=0) + step.forward_ops * chunks
    gelements = step.member_gelements * sum(member_steps) + step.forward_gelements_per_clip * sum(validation)
    return TrialWork(training.max_epochs * gflop, training.max_epochs * ops / 1e6, training.max_epochs * gelements)


@dataclass(frozen=True)
class CostObservation:
    """A finished trial's work and the seconds its training took."""

    gflop: float
    mops: float
    gelements: float
    seconds: float


@dataclass(frozen=True)
class CostModel:
    """Seconds per trial as a function of its work, for one kind of device."""

    device: str
    coefficients: tuple[float, float, float] = PRIOR
    trials: int = 0  # finished trials it was fitted on

    def predict(self, work: TrialWork) -> float:
        """Predicted training seconds of a trial doing ``work``."""
        return float(work.features() @ np.array(self.coefficients))

    @classmethod
    def fit(cls, device: str, observations: Sequence[CostObservation]) -> CostModel:
        """Fit on ``observations`` (trials on ``device``); see the module docstring."""
        usable = [o for o in observations if o.seconds > 0 and math.isfinite(o.seconds)]
        if not usable:
            return cls(device)
        x = np.array([TrialWork(o.gflop, o.mops, o.gelements).features() for o in usable])
        y = np.array([o.seconds for o in usable])
        prior = x @ np.array(PRIOR)
        if len(usable) < MIN_FIT_TRIALS:
            scale = float(np.median(y / prior))
            return cls(device, tuple(c * scale for c in PRIOR), len(usable))
        from scipy.optimize import nnls

        coefficients, _ = nnls(x / y[:, None], np.ones(len(y)))  # relative error: each trial weighs the same
        if not np.any(coefficients[1:] > 0):  # the fit says work does not matter: keep the prior's shape
            coefficients = np.array(PRIOR) * float(np.median(y / prior))
        return cls(device, tuple(float(c) for c in coefficients), len(usable))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CostModel:
        return cls(data["device"], tuple(data["coefficients"]), data["trials"])
