"""Registries: every searchable option is one registered component with its own hyper-parameters."""

from __future__ import annotations

import itertools
from abc import ABC
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import optuna

from merauto.errors import MerautoError
from merauto.pipeline.config import Choice


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
    """Named components of one slot of the search space (input, block, loss, ...).

    ``default`` names the component a config that does not choose one runs (e.g. a config
    written before the slot existed). Components register in the order their modules are
    imported; that order is the order of the slot's categorical choices.

    >>> LOSSES_DEMO: Registry[Component] = Registry("loss")
    >>> @LOSSES_DEMO.register
    ... class Hinge(Component):
    ...     name = "hinge"
    ...     defaults = {"margin": 1.0}
    ...     choices = {"margin": (0.5, 1.0)}
    >>> LOSSES_DEMO.names()
    ['hinge']
    >>> component, params = LOSSES_DEMO.resolved(Choice("hinge"))
    >>> params, component.grid()
    ({'margin': 1.0}, [{'margin': 0.5}, {'margin': 1.0}])
    """

    def __init__(self, slot: str, default: str | None = None) -> None:
        self.slot = slot
        self.default = default
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

    def resolved(self, choice: Choice) -> tuple[C, dict[str, Any]]:
        """The component ``choice`` names and its hyper-parameters with the defaults filled in."""
        component = self.get(choice.name)
        return component, component.resolve(choice.params)

    def names(self) -> list[str]:
        return list(self._components)

    def __iter__(self) -> Iterator[C]:
        return iter(self._components.values())

    def __contains__(self, name: object) -> bool:
        return name in self._components


def suggest_choice(
    trial: optuna.Trial, registry: Registry[C], allowed: Callable[[C], bool] | None = None, prefix: str = ""
) -> tuple[C, dict[str, Any]]:
    """Pick a component of ``registry`` (parameter ``prefix + slot``) and sample its hyper-parameters,
    namespaced by the choice (``prefix + slot.name.param``)."""
    names = [c.name for c in registry if allowed is None or allowed(c)]
    component = registry.get(trial.suggest_categorical(prefix + registry.slot, names))
    params = component.suggest(trial, f"{prefix}{registry.slot}.{component.name}.")
    return component, component.resolve(params)


# A component chosen inside another component's parameters (a trunk inside its input's): the
# choice is the parameter named after the registry's slot, and the chosen component's own
# hyper-parameters are the parameters ``<name>_<param>``.


def suggest_embedded(trial: optuna.Trial, registry: Registry[C], prefix: str, allowed: Callable[[C], bool]) -> dict[str, Any]:
    """Choose a component of ``registry`` as parameter ``prefix + slot`` among the ``allowed`` ones and
    sample its hyper-parameters as ``prefix + name_param``; returns the parameters to embed."""
    names = [c.name for c in registry if allowed(c)]
    component = registry.get(trial.suggest_categorical(prefix + registry.slot, names))
    return embed(registry, component, component.resolve(component.suggest(trial, f"{prefix}{component.name}_")))


def embed(registry: Registry[C], component: C, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that name ``component`` of ``registry`` and its hyper-parameters ``params`` inside another component's."""
    return {registry.slot: component.name, **{f"{component.name}_{key}": value for key, value in params.items()}}


def embedded(registry: Registry[C], params: dict[str, Any]) -> tuple[C, dict[str, Any]]:
    """The component of ``registry`` chosen inside ``params`` (``registry.default`` when none is) and its resolved hyper-parameters."""
    component = registry.get(str(params.get(registry.slot, registry.default)))
    own = f"{component.name}_"
    return component, component.resolve({key[len(own) :]: value for key, value in params.items() if key.startswith(own)})
