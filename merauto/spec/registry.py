"""Registries: every searchable option is one registered component with its own hyper-parameters."""

from __future__ import annotations

import itertools
from abc import ABC
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import optuna

from merauto.errors import MerautoError


class Component(ABC):  # noqa: B024 - abstract by intent: subclasses add their build method
    """A searchable option. Subclasses set ``name``/``description``, ``defaults`` and either
    ``choices`` (discrete searched values: what preprocessing uses, so cached inputs are
    reused) or their own :meth:`suggest` (conditional hyper-parameters of any kind).
    ``version`` changes whenever what the component computes changes."""

    name: str = ""
    description: str = ""
    defaults: dict[str, Any] = {}
    choices: dict[str, tuple[Any, ...]] = {}
    version: str = "1"

    def suggest(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        """Sample this component's hyper-parameters; names must start with ``prefix``."""
        return {key: trial.suggest_categorical(prefix + key, list(values)) for key, values in self.choices.items()}

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of ``choices``, resolved: the points of this component a search can reach."""
        keys = list(self.choices)
        return [self.resolve(dict(zip(keys, values, strict=True))) for values in itertools.product(*self.choices.values())]

    def available(self, context: Any = None) -> bool:
        """Whether this component can run here, on the dataset described by ``context`` (``None``: any)."""
        return True

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` completed with the defaults of anything not given."""
        return {**self.defaults, **params}


C = TypeVar("C", bound=Component)


class Registry(Generic[C]):
    """Named components of one slot of the search space (input, block, loss, ...)."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self._components: dict[str, C] = {}

    def register(self, cls: type[C]) -> type[C]:
        """Class decorator: instantiate ``cls`` and register it under ``cls.name``."""
        component = cls()
        if not component.name or component.name in self._components:
            raise ValueError(f"{self.slot}: component name {component.name!r} is empty or taken")
        self._components[component.name] = component
        return cls

    def get(self, name: str) -> C:
        try:
            return self._components[name]
        except KeyError:
            raise MerautoError(
                f"unknown {self.slot} {name!r}",
                f"choose one of: {', '.join(self._components)}",
            ) from None

    def names(self) -> list[str]:
        return list(self._components)

    def __iter__(self) -> Iterator[C]:
        return iter(self._components.values())

    def __contains__(self, name: object) -> bool:
        return name in self._components


def suggest_choice(trial: optuna.Trial, registry: Registry[C], allowed: Callable[[C], bool] | None = None) -> tuple[C, dict[str, Any]]:
    """Pick a component of ``registry`` and sample its hyper-parameters, namespaced by the choice."""
    names = [c.name for c in registry if allowed is None or allowed(c)]
    component = registry.get(trial.suggest_categorical(registry.slot, names))
    params = component.suggest(trial, f"{registry.slot}.{component.name}.")
    return component, component.resolve(params)
