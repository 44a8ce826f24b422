"""The define-by-run search space: the product of the registries plus training settings.

An input is sampled first; the preprocessing slots (face, magnification, roi) are sampled
only when one of its streams reads them, and fusion only when it has more than one stream,
so no two configs differ by a step that does nothing. The trunks an input's streams need (a
vector trunk for feature vectors, a temporal trunk for evenly spaced frames) are chosen in
its parameters; the training settings name a registered optimiser, schedule and weight average.
What a dataset cannot run (landmark inputs and regions without landmarks, an uninstalled
backend, a source-dataset head or domain-adversarial training on a single source, an
action-unit head without AU codes on every clip) is left out by :class:`SpaceContext`,
fixed for a study.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import optuna

from merauto.data.inputs import INPUTS
from merauto.data.preprocessing.landmarks import index_has_landmarks
from merauto.data.sample_index import SampleIndex
from merauto.data.streams import PREPROCESSING
from merauto.evaluator.augment import AUGMENTS
from merauto.evaluator.blocks import BLOCKS
from merauto.evaluator.fitted import SAMPLINGS
from merauto.evaluator.fusion import FUSIONS
from merauto.evaluator.heads import TASKS
from merauto.evaluator.losses import LOSSES
from merauto.evaluator.optim import AVERAGING, OPTIMISERS, SCHEDULES
from merauto.evaluator.strategies import STRATEGIES
from merauto.evaluator.temporal import TEMPORAL_TRUNKS
from merauto.evaluator.topologies import TOPOLOGIES
from merauto.evaluator.vector_trunks import VECTOR_TRUNKS
from merauto.pipeline.config import IDENTITY_CHOICES, Choice, PipelineConfig, TrainingConfig
from merauto.pipeline.registry import embed, embedded, suggest_choice, suggest_embedded
from merauto.search_space.defaults import MAX_EPOCHS

REGISTRIES = {
    "input": INPUTS,
    **PREPROCESSING,
    "topology": TOPOLOGIES,
    "block": BLOCKS,
    "loss": LOSSES,
    "augment": AUGMENTS,
    "fusion": FUSIONS,
    "tasks": TASKS,
    "strategy": STRATEGIES,
}
# Components chosen inside the input's parameters, for the streams that need them.
TRUNKS = (VECTOR_TRUNKS, TEMPORAL_TRUNKS)
# Components named by the training settings (training.optimiser, training.schedule, training.averaging
# with its hyper-parameters as training.<name>_<param>).
TRAINING_REGISTRIES = {"optimiser": OPTIMISERS, "schedule": SCHEDULES, "averaging": AVERAGING}
SEED_BAGS = [1, 3]  # training.seeds: models per inner split and per refit, their probabilities averaged (seed bagging)


@dataclass(frozen=True)
class SpaceContext:
    """What the dataset offers that some options need: landmarks, (for a dataset without
    frames) the stream kinds it holds precomputed, its number of source datasets, whether
    every clip is AU-coded, and whether the run names a checkpoint to fine-tune from."""

    landmarks: bool = False
    precomputed: frozenset[str] | None = None
    n_sources: int = 1
    au_labels: bool = False
    pretrained: bool = False

    @classmethod
    def of(cls, index: SampleIndex) -> SpaceContext:
        labels = {"n_sources": len(set(index.sources)), "au_labels": index.action_unit_matrix() is not None}
        if index.precomputed is not None:
            return cls(landmarks=False, precomputed=index.precomputed, **labels)
        return cls(landmarks=index_has_landmarks(index), **labels)


def runnable_inputs(context: SpaceContext | None) -> list[str]:
    """Inputs the dataset can feed (every installed one when ``context`` is ``None``)."""
    return [kind.name for kind in INPUTS if kind.available(context)]


def choose_trunks(trial: optuna.Trial, input_choice: Choice) -> Choice:
    """``input_choice`` with a trunk of each family its streams need, chosen among those that accept them.

    The trunk is a parameter of the input (``input.<name>.vector_trunk``), so the choices of
    each such parameter are fixed: an input's streams decide which trunks it can take.
    """
    layouts = INPUTS.get(input_choice.name).layouts(input_choice.params)
    params = dict(input_choice.params)
    for family in TRUNKS:
        needing = [layout for layout in layouts if any(trunk.accepts(layout) for trunk in family)]
        if needing:
            accepts = lambda trunk, needing=needing: all(trunk.accepts(layout) for layout in needing)  # noqa: E731
            params.update(suggest_embedded(trial, family, f"input.{input_choice.name}.", accepts))
    return Choice(input_choice.name, params)


def _training(trial: optuna.Trial, max_epochs: int) -> TrainingConfig:
    """The training settings: an optimiser and its learning rate, a schedule, and the rest."""
    optimiser = OPTIMISERS.get(trial.suggest_categorical("training.optimiser", OPTIMISERS.names()))
    return TrainingConfig(
        optimiser=optimiser.name,
        lr=optimiser.suggest(trial, "training.")["lr"],
        schedule=trial.suggest_categorical("training.schedule", SCHEDULES.names()),
        weight_decay=trial.suggest_float("training.weight_decay", 1e-6, 1e-2, log=True),
        batch_size=trial.suggest_categorical("training.batch_size", [16, 32, 64]),
        max_epochs=trial.suggest_int("training.max_epochs", min(20, max_epochs), max_epochs, step=10),
        class_weighting=trial.suggest_categorical("training.class_weighting", ["none", "balanced"]),
        dropout=trial.suggest_float("training.dropout", 0.0, 0.5),
    )


def define_by_run(trial: optuna.Trial, context: SpaceContext | None = None, max_epochs: int = MAX_EPOCHS) -> PipelineConfig:
    """Sample one candidate pipeline on ``trial`` and return it, resolved (``context=None``: every
    registered, installed option). Optuna records the flat parameters (:meth:`PipelineConfig.to_params`).

    ``max_epochs`` bounds the sampled epoch limit (a budget knob: lower is faster).

    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    >>> config = define_by_run(trial)
    >>> resolve(PipelineConfig.from_params(trial.params)) == config  # the flat parameters name the config
    True
    >>> config.input.name in INPUTS
    True
    """

    def choose(slot: str) -> Choice:
        component, params = suggest_choice(trial, REGISTRIES[slot], lambda c: c.available(context))
        return Choice(component.name, params)

    if context is not None and context.precomputed is not None:
        # No frames: the files fix how each stream was computed, so neither the input's
        # parameters nor any preprocessing step is sampled.
        name = trial.suggest_categorical("input", runnable_inputs(context))
        choices = {"input": Choice(name, INPUTS.get(name).resolve({}))}
        uses: frozenset[str] = frozenset()
    else:
        choices = {"input": choose("input")}
        uses = INPUTS.get(choices["input"].name).uses(choices["input"].params)
    choices["input"] = choose_trunks(trial, choices["input"])
    for slot in PREPROCESSING:
        choices[slot] = choose(slot) if slot in uses else Choice(IDENTITY_CHOICES[slot])
    for slot in ("topology", "block", "loss", "augment"):
        choices[slot] = choose(slot)
    training = _training(trial, max_epochs)
    # Slots added later are sampled last, so the earlier parameters of a seeded study stay as they were.
    streams = INPUTS.get(choices["input"].name).stream_params(choices["input"].params)
    choices["fusion"] = choose("fusion") if len(streams) > 1 else Choice(IDENTITY_CHOICES["fusion"])
    choices["tasks"] = choose("tasks")
    choices["strategy"] = choose("strategy")
    training = replace(training, seeds=trial.suggest_categorical("training.seeds", SEED_BAGS))
    training = replace(
        training,
        **suggest_embedded(trial, AVERAGING, "training.", lambda c: c.available(context)),
        sampling=trial.suggest_categorical("training.sampling", list(SAMPLINGS)),
    )
    return PipelineConfig(**choices, training=training)


def _resolve_input(choice: Choice) -> Choice:
    """The input's parameters with its defaults and the trunks its streams take (default ones when not chosen)."""
    kind, params = INPUTS.resolved(choice)
    for family in TRUNKS:
        if any(trunk.accepts(layout) for layout in kind.layouts(params) for trunk in family):
            trunk, trunk_params = embedded(family, params)
            params = {**params, **embed(family, trunk, trunk_params)}
    return Choice(choice.name, params)


def resolve(config: PipelineConfig) -> PipelineConfig:
    """``config`` with every component's defaults filled in (what the trial actually runs)."""
    resolved = {}
    for slot, registry in REGISTRIES.items():
        component, params = registry.resolved(getattr(config, slot))
        resolved[slot] = Choice(component.name, params)
    resolved["input"] = _resolve_input(config.input)
    for field, registry in TRAINING_REGISTRIES.items():
        registry.get(getattr(config.training, field))  # an unknown optimiser or schedule fails here, named
    return PipelineConfig(**resolved, training=config.training)
