"""The search space as people read it: a tree of slots, options and hyper-parameter ranges,
and random samples of it (``merauto space``).

Ranges are read by running each component's own ``suggest`` (and the training part of
:func:`define_by_run`) on a :class:`RecordingTrial`, so what is printed is what is sampled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import optuna
from rich.tree import Tree

from merauto.data.streams import PREPROCESSING
from merauto.evaluator.optim import AVERAGING, OPTIMISERS
from merauto.pipeline.config import Choice, PipelineConfig
from merauto.pipeline.registry import Component
from merauto.search_space.defaults import MAX_EPOCHS
from merauto.search_space.space import REGISTRIES, TRAINING_REGISTRIES, TRUNKS, SpaceContext, choose_trunks, define_by_run


@dataclass(frozen=True)
class Param:
    """One sampled hyper-parameter: its name, its values in words, how many there are (``None``:
    continuous), a categorical's choices, and the choice of another parameter it is sampled under."""

    name: str
    values: str
    count: int | None
    choices: tuple[Any, ...] = ()
    condition: tuple[str, Any] | None = None

    def label(self) -> str:
        when = f" when {self.condition[0]}={self.condition[1]}" if self.condition else ""
        return f"{self.name}{when}: {self.values} ({'continuous' if self.count is None else _choices(self.count)})"


def _choices(count: int) -> str:
    return f"{count} choice{'s' if count != 1 else ''}"


class RecordingTrial:
    """Stands in for an ``optuna.Trial``: records every ``suggest_*`` call and answers from
    ``answers``, else the first category or the highest number (so that parameters sampled per
    branch all appear)."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = answers or {}
        self.params: list[Param] = []

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.params.append(Param(name, " | ".join(map(str, choices)), len(choices), tuple(choices)))
        return self.answers.get(name, choices[0])

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        words = f"{low}-{high}" + (f" step {step}" if step != 1 else "") + (" log" if log else "")
        self.params.append(Param(name, words, len(range(low, high + 1, step))))
        return high - (high - low) % step

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        words = f"{low:g}-{high:g}" + (f" step {step:g}" if step else "") + (" log" if log else "")
        self.params.append(Param(name, words, None if step is None else int(round((high - low) / step)) + 1))
        return high


def explore(record: Callable[[dict[str, Any]], list[Param]]) -> list[Param]:
    """The parameters ``record(answers)`` samples; one whose range or presence depends on a
    categorical choice is listed once per value of that choice it is sampled under (each answered in turn)."""
    base = record({})
    runs = {(c.name, value): record({c.name: value}) for c in base if len(c.choices) > 1 for value in c.choices}
    names = {p.name for p in base}
    result: list[Param] = []
    for param in base:
        deciding = {name for (name, _), run in runs.items() if param not in run}  # choices that change or drop it
        if not deciding:
            result.append(param)
        result += [replace(p, condition=key) for key, run in runs.items() if key[0] in deciding for p in run if p.name == param.name]
    result += [replace(p, condition=key) for key, run in runs.items() for p in run if p.name not in names]
    return result


def component_params(component: Component, prefix: str) -> list[Param]:
    """The hyper-parameters ``component`` samples, named without ``prefix``."""

    def record(answers: dict[str, Any]) -> list[Param]:
        trial = RecordingTrial({prefix + k: v for k, v in answers.items()})
        component.suggest(trial, prefix)  # type: ignore[arg-type]  # duck-typed trial
        return [replace(p, name=p.name.removeprefix(prefix)) for p in trial.params]

    return explore(record)


def input_params(kind: Component) -> list[Param]:
    """The hyper-parameters of input ``kind``: its own and the trunks the space chooses for its streams."""
    prefix = f"input.{kind.name}."

    def record(answers: dict[str, Any]) -> list[Param]:
        trial = RecordingTrial({prefix + k: v for k, v in answers.items()})
        params = kind.resolve(kind.suggest(trial, prefix))  # type: ignore[arg-type]  # duck-typed trial
        choose_trunks(trial, Choice(kind.name, params))  # type: ignore[arg-type]
        return [replace(p, name=p.name.removeprefix(prefix)) for p in trial.params]

    return explore(record)


def training_params(max_epochs: int = MAX_EPOCHS) -> list[Param]:
    """The training settings :func:`define_by_run` samples, named without ``training.``, but for the
    components they name (optimiser, schedule, averaging) and their own (lr, ema_decay, ...)."""
    optimisers = {p.name for o in OPTIMISERS for p in component_params(o, "training.")}
    averages = {f"{a.name}_{p.name}" for a in AVERAGING for p in component_params(a, "training.")}
    own = {*TRAINING_REGISTRIES, *optimisers, *averages}

    def record(answers: dict[str, Any]) -> list[Param]:
        trial = RecordingTrial({f"training.{k}": v for k, v in answers.items()})
        define_by_run(trial, None, max_epochs)  # type: ignore[arg-type]  # duck-typed trial
        named = [replace(p, name=p.name.removeprefix("training.")) for p in trial.params if p.name.startswith("training.")]
        return [p for p in named if p.name not in own]

    return explore(record)


def _hyper(params: list[Param]) -> str:
    count = len({p.name for p in params})
    return f"{count} hyper-parameter{'s' if count != 1 else ''}"


def _add_registry(parent: Tree, label: str, options: list[Component], note: str, params: Callable[[Component], list[Param]]) -> None:
    branch = parent.add(f"[bold]{label}[/] ({_choices(len(options))}{note})")
    for component in options:
        own = params(component)
        node = branch.add(f"[cyan]{component.name}[/] ({_hyper(own)}) [dim]{component.description}[/]")
        for param in own:
            node.add(param.label())


def space_tree(context: SpaceContext | None = None, max_epochs: int = MAX_EPOCHS) -> Tree:
    """slot -> option -> hyper-parameter, with the number of choices at each node: the config's slots,
    the trunks chosen inside an input's parameters, and the training settings with the optimisers and
    schedules they name."""
    root = Tree(f"[bold]search space[/] ({len(REGISTRIES) + len(TRUNKS) + 1} slots)")
    for slot, registry in REGISTRIES.items():
        note = "; sampled only for inputs whose streams it acts on" if slot in PREPROCESSING else ""
        own = input_params if slot == "input" else lambda c, slot=slot: component_params(c, f"{slot}.{c.name}.")
        _add_registry(root, slot, [c for c in registry if c.available(context)], note, own)
        if slot == "block":
            for family in TRUNKS:
                note = "; chosen in the parameters of an input with a stream it reads, as input.NAME." + family.slot
                _add_registry(root, family.slot, list(family), note, lambda c: component_params(c, f"{c.name}_"))
    training = training_params(max_epochs)
    node = root.add(f"[bold]training[/] ({_hyper(training)} and {len(TRAINING_REGISTRIES)} components)")
    for field, registry in TRAINING_REGISTRIES.items():
        _add_registry(node, field, list(registry), "", lambda c: component_params(c, "training."))
    for param in training:
        node.add(param.label())
    return root


def sample_configs(n: int, seed: int = 0, context: SpaceContext | None = None) -> list[PipelineConfig]:
    """``n`` configs drawn uniformly at random (Optuna's RandomSampler, in memory)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(define_by_run(trial, context))
        study.tell(trial, 0.0)
    return configs
