"""Training one model on one part of the data: fitted statistics, optimiser, epochs, prediction.

Everything a :class:`Learner` fits (normalisation, class weights, weights) comes from its own
training rows; other rows are only ever passed through :meth:`Learner.predict_proba`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from merauto.data.augment import build_augmenter
from merauto.errors import TrialDiverged
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.model import build_model
from merauto.search_space.config import PipelineConfig

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Standardiser:
    """Per-stream, per-channel mean and standard deviation fitted on training rows."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, inputs: Inputs, rows: np.ndarray) -> Standardiser:
        """Statistics per channel of (N, C, H, W) streams and per feature of (N, D) streams."""
        mean, std = {}, {}
        for name, array in inputs.items():
            part = array[rows].astype(np.float64)
            axes = (0, *range(2, part.ndim))
            mean[name] = part.mean(axis=axes).astype(np.float32)
            std[name] = np.maximum(part.std(axis=axes), 1e-6).astype(np.float32)
        return cls(mean, std)

    def tensors(self, inputs: Inputs, rows: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
        """Standardised rows of every stream as tensors on ``device``."""
        out = {}
        for name, array in inputs.items():
            shape = (1, -1, *([1] * (array.ndim - 2)))
            part = (array[rows] - self.mean[name].reshape(shape)) / self.std[name].reshape(shape)
            out[name] = torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32)).to(device)
        return out

    def to_json(self) -> dict[str, Any]:
        return {k: {"mean": self.mean[k].tolist(), "std": self.std[k].tolist()} for k in self.mean}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Standardiser:
        return cls(
            {k: np.asarray(v["mean"], np.float32) for k, v in data.items()},
            {k: np.asarray(v["std"], np.float32) for k, v in data.items()},
        )


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray | None:
    """``balanced``: n / (k * count_c), as scikit-learn's ``compute_class_weight``; ``none``: None."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown class weighting {mode!r}")
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return (len(labels) / (n_classes * np.maximum(counts, 1))).astype(np.float32)


class Learner:
    """One model trained on ``rows`` of the data, with statistics fitted on those rows only."""

    def __init__(
        self,
        config: PipelineConfig,
        inputs: Inputs,
        labels: np.ndarray,
        rows: np.ndarray,
        n_classes: int,
        seed: int,
        device: torch.device,
    ) -> None:
        self.config = config
        self.seed = seed
        self.device = device
        self.standardiser = Standardiser.fit(inputs, rows)
        self.class_weights = class_weights(labels[rows], n_classes, config.training.class_weighting)
        torch.manual_seed(seed)
        shapes = {name: tuple(array.shape[1:]) for name, array in inputs.items()}
        self.model = build_model(config, shapes, n_classes).to(device)
        training = config.training
        self.optimiser = torch.optim.AdamW(self.model.parameters(), lr=training.lr, weight_decay=training.weight_decay)
        loss = LOSSES.get(config.loss.name)
        weights = None if self.class_weights is None else torch.from_numpy(self.class_weights).to(device)
        self.loss_fn = loss.build(loss.resolve(config.loss.params), weights)
        self.x = self.standardiser.tensors(inputs, rows, device)
        self.y = torch.from_numpy(labels[rows]).to(device)
        self.augmenter = build_augmenter(config, self.standardiser.mean, self.standardiser.std, device)
        self.epochs_done = 0

    def train_epoch(self) -> float:
        """One pass over the training rows in a seeded random order; returns the mean loss."""
        self.model.train()
        torch.manual_seed(self.seed * 100_003 + self.epochs_done)  # dropout and order: per learner, per epoch
        order = torch.randperm(len(self.y), device=self.device)
        batch = self.config.training.batch_size
        total, count = 0.0, 0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            if len(rows) < 2 and count > 0:  # a lone sample breaks batch norm; it is seen next epoch
                continue
            augmented = self.augmenter({k: v[rows] for k, v in self.x.items()}, self.y[rows])  # training rows only
            logits = self.model(augmented.inputs)
            loss = sum(weight * self.loss_fn(logits, target) for weight, target in augmented.targets)
            if not torch.isfinite(loss):
                raise TrialDiverged(f"training loss became {loss.item()} at epoch {self.epochs_done + 1}")
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            total += loss.item() * len(rows)
            count += len(rows)
        self.epochs_done += 1
        return total / max(count, 1)

    @torch.inference_mode()
    def predict_proba(self, inputs: Inputs, rows: np.ndarray) -> np.ndarray:
        """Class probabilities (len(rows), n_classes) for ``rows``, standardised with this learner's statistics."""
        self.model.eval()
        logits = self.model(self.standardiser.tensors(inputs, rows, self.device))
        probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
        if not np.isfinite(probs).all():
            raise TrialDiverged(f"predictions became non-finite after epoch {self.epochs_done}")
        return probs

    def snapshot(self) -> dict[str, torch.Tensor]:
        return copy.deepcopy(self.model.state_dict())

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def fitted_statistics(self) -> dict[str, Any]:
        """What this learner fitted from data, for the record and the leakage test."""
        return {
            "standardiser": self.standardiser.to_json(),
            "class_weights": None if self.class_weights is None else self.class_weights.tolist(),
        }
