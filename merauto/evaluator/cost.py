"""What a trial will cost, known before it trains: the work it will do, and seconds fitted to work.

The work of a trial is counted from its config and the protocol, not guessed. One forward and
backward pass of the trial's network on its own stream shapes gives the FLOPs per clip
(``torch.utils.flop_counter``) and the ATen operators per batch (each a fixed cost in Python and
dispatch that FLOPs do not see: for networks this small it is often most of the time). Both are
multiplied out over what the protocol trains: every inner model, refit and audit test model on
its rows, a distillation teacher's models, and the inner-validation predictions after each
epoch, all to the epoch limit. Early stopping ends most trials sooner, so the work is an upper
bound; the calibration absorbs how much of it a typical trial does.

:class:`CostModel` turns work into seconds, ``seconds = a + b * GFLOP + c * Mops`` (a: a trial's
fixed cost; a, b, c >= 0), fitted on the trials already finished on the same kind of device by
non-negative least squares on relative error. Before three trials have finished it scales a
prior (measured on one core of the project machine) by the median ratio seen so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from merauto.evaluator.dispatch_count import DispatchCounter
from merauto.evaluator.engine import INFERENCE_ROWS
from merauto.evaluator.model import build_model
from merauto.evaluator.strategies import STRATEGIES
from merauto.spec.config import PipelineConfig, TrainingConfig

FLOP_BATCH = 2  # clips per counted pass (a batch of 1 would bypass batch-norm's batch statistics)
MIN_FIT_TRIALS = 3  # finished trials before the three coefficients are fitted (before: the prior, scaled)
PRIOR = (0.5, 0.005, 80.0)  # s per trial, s per GFLOP, s per million operators: fitted on the presets, one core of the project machine


@dataclass(frozen=True)
class TrialWork:
    """What a trial does if every model trains to its epoch limit."""

    gflop: float  # training and validation FLOPs, in 1e9
    mops: float  # ATen operators dispatched by those passes, in 1e6

    def features(self) -> np.ndarray:
        return np.array([1.0, self.gflop, self.mops])


def device_kind(device: torch.device, threads: int) -> str:
    """The kind of device a calibration holds for: ``cpu x2`` or the CUDA device's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu x{threads}"


@dataclass(frozen=True)
class PassCost:
    """What one pass of ``config``'s network costs: GFLOPs per clip, and ATen operators per batch
    (each one a fixed cost in Python and dispatch, whatever the batch size)."""

    forward_gflop: float
    train_gflop: float  # forward and backward
    forward_ops: int
    train_ops: int


def pass_cost(config: PipelineConfig, shapes: dict[str, tuple[int, ...]], n_classes: int) -> PassCost:
    """Count one forward and one backward pass of ``config``'s network on a batch of random clips."""
    model = build_model(config, shapes, n_classes).train()
    batch = {name: torch.randn(FLOP_BATCH, *shape) for name, shape in shapes.items()}
    with FlopCounterMode(display=False) as forward_flops, DispatchCounter() as forward_ops:
        logits = model(batch)
    with FlopCounterMode(display=False) as backward_flops, DispatchCounter() as backward_ops:
        logits.float().logsumexp(1).sum().backward()
    forward = forward_flops.get_total_flops() / FLOP_BATCH / 1e9
    backward = backward_flops.get_total_flops() / FLOP_BATCH / 1e9
    return PassCost(forward, forward + backward, forward_ops.total, forward_ops.total + backward_ops.total)


def trial_work(
    config: PipelineConfig,
    shapes: dict[str, tuple[int, ...]],
    n_classes: int,
    member_rows: Sequence[int],
    validation_rows: int,
    test_model_rows: Sequence[int],
) -> TrialWork:
    """The work of evaluating ``config``: ``member_rows`` are the training rows of each inner model
    (over every fold), ``validation_rows`` the inner-validation rows predicted after each epoch,
    ``test_model_rows`` the training rows of each fold's test model (refit or audit; empty without;
    an audit's per-epoch predictions of a few test clips per fold are left out)."""
    work = _model_set_work(pass_cost(config, shapes, n_classes), config.training, [*member_rows, *test_model_rows], validation_rows)
    teacher = STRATEGIES.get(config.strategy.name).teacher(config, config.strategy.params)
    if teacher is not None:  # each model set first trains one teacher per model on the same rows, then predicts them
        teacher_cost = pass_cost(teacher, shapes, n_classes)
        models = [*member_rows, *test_model_rows]
        extra = _model_set_work(teacher_cost, teacher.training, models, 0)
        predict = TrialWork(teacher_cost.forward_gflop * sum(models), teacher_cost.forward_ops * len(models) / 1e6)
        work = TrialWork(work.gflop + extra.gflop + predict.gflop, work.mops + extra.mops + predict.mops)
    return work


def _model_set_work(cost: PassCost, training: TrainingConfig, models: Sequence[int], validation_rows: int) -> TrialWork:
    """Models training on ``models`` rows each for ``training.max_epochs``, predicting
    ``validation_rows`` after each epoch in chunks of ``INFERENCE_ROWS``."""
    steps = sum(math.ceil(rows / training.batch_size) for rows in models)
    chunks = math.ceil(validation_rows / INFERENCE_ROWS) if validation_rows else 0
    gflop = cost.train_gflop * sum(models) + cost.forward_gflop * validation_rows
    ops = cost.train_ops * steps + cost.forward_ops * chunks
    return TrialWork(training.max_epochs * gflop, training.max_epochs * ops / 1e6)


@dataclass(frozen=True)
class CostObservation:
    """A finished trial's work and the seconds its training took."""

    gflop: float
    mops: float
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
        x = np.array([TrialWork(o.gflop, o.mops).features() for o in usable])
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
