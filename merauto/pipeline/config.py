"""PipelineConfig: the plain-data description of one candidate pipeline, round-tripping through JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Choice:
    """A registered component by name, with its resolved hyper-parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        inner = ",".join(f"{k}={_short(v)}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})" if inner else self.name


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings of a candidate."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 40
    patience: int = 10
    class_weighting: str = "balanced"
    dropout: float = 0.0
    optimiser: str = "adamw"
    schedule: str = "constant"
    seeds: int = 1  # seed bagging: K models per inner split and per refit, their class probabilities averaged (1: one model)
    averaging: str = "none"  # the weight average each model is evaluated with (AVERAGING); its hyper-parameters are <name>_<param>
    ema_decay: float = 0.99
    swa_start: float = 0.75
    sampling: str = "shuffle"  # an epoch's rows: "shuffle" (a permutation) or "balanced" (classes drawn equally, with replacement)

    def averaging_choice(self) -> Choice:
        """The weight average as a choice: its name and its hyper-parameters (the fields ``<name>_<param>``)."""
        own = f"{self.averaging}_"
        return Choice(self.averaging, {k[len(own) :]: v for k, v in asdict(self).items() if k.startswith(own)})


SLOTS = ("input", "face", "magnification", "roi", "topology", "block", "loss", "augment", "fusion", "tasks", "strategy")
# Slots added after the first configs were written, with the choice that means "not used":
# a config without them loads as what it ran, and an input that a step cannot act on gets it.
IDENTITY_CHOICES = {
    "face": "none",
    "magnification": "none",
    "roi": "whole",
    "augment": "none",
    "fusion": "concat",
    "tasks": "single",
    "strategy": "scratch",
}
PREPROCESSING_STEPS = ("face", "magnification", "roi", "augment")  # shown after the input in a summary


def _identity(slot: str) -> Choice:
    return Choice(IDENTITY_CHOICES[slot])


@dataclass(frozen=True)
class PipelineConfig:
    """Input and its preprocessing (face, magnification, roi), network (topology + block, late
    fusion of the streams), loss, training-time augmentation, auxiliary tasks, training
    strategy and training settings: one point of the search space."""

    input: Choice
    topology: Choice
    block: Choice
    loss: Choice
    face: Choice = field(default_factory=lambda: _identity("face"))
    magnification: Choice = field(default_factory=lambda: _identity("magnification"))
    roi: Choice = field(default_factory=lambda: _identity("roi"))
    augment: Choice = field(default_factory=lambda: _identity("augment"))
    fusion: Choice = field(default_factory=lambda: _identity("fusion"))
    tasks: Choice = field(default_factory=lambda: _identity("tasks"))
    strategy: Choice = field(default_factory=lambda: _identity("strategy"))
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        choices = {
            slot: Choice(data[slot]["name"], dict(data[slot].get("params", {}))) if slot in data else _identity(slot) for slot in SLOTS
        }
        known = {f.name for f in fields(TrainingConfig)}
        training = TrainingConfig(**{k: v for k, v in data.get("training", {}).items() if k in known})
        return cls(**choices, training=training)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.from_dict(json.loads(text))

    def to_params(self) -> dict[str, Any]:
        """Flat Optuna parameters naming this config (as the define-by-run space names them)."""
        params: dict[str, Any] = {}
        for slot in SLOTS:
            choice: Choice = getattr(self, slot)
            params[slot] = choice.name
            params.update({f"{slot}.{choice.name}.{k}": v for k, v in choice.params.items()})
        params.update({f"training.{k}": v for k, v in asdict(self.training).items()})
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PipelineConfig:
        """Inverse of :meth:`to_params`; parameters a trial did not sample keep their defaults."""
        data: dict[str, Any] = {}
        for slot in SLOTS:
            name = params[slot] if slot in params else IDENTITY_CHOICES[slot]
            prefix = f"{slot}.{name}."
            data[slot] = {"name": name, "params": {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}}
        data["training"] = {k[len("training.") :]: v for k, v in params.items() if k.startswith("training.")}
        return cls.from_dict(data)

    def summary(self) -> str:
        """One line a person can read in a leaderboard."""
        t = self.training
        steps = [getattr(self, s).summary() for s in PREPROCESSING_STEPS if getattr(self, s).name != IDENTITY_CHOICES[s]]
        later = [s for s in IDENTITY_CHOICES if s not in PREPROCESSING_STEPS and getattr(self, s).name != IDENTITY_CHOICES[s]]
        extras = "".join(f" | {getattr(self, s).summary()}" for s in later)
        return (
            f"{' + '.join([self.input.summary(), *steps])} | {self.topology.summary()} x {self.block.summary()}{extras} | "
            f"{self.loss.summary()} w={t.class_weighting} lr={t.lr:.2g} wd={t.weight_decay:.2g} "
            f"bs={t.batch_size} ep<={t.max_epochs} drop={t.dropout:.2g} {t.optimiser}/{t.schedule}"
            + (f" seeds={t.seeds}" if t.seeds > 1 else "")
            + (f" avg={t.averaging_choice().summary()}" if t.averaging != "none" else "")
            + (f" sampling={t.sampling}" if t.sampling != "shuffle" else "")
        )
