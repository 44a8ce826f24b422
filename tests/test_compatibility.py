"""Configs, results and studies written before the layering redesign still load, build and resume.

``fixtures/space_before_redesign.json`` was written by merauto at a918932, before the redesign:
for two space contexts, the parameter distributions of 60 trials of ``RandomSampler(seed=0)``,
and the first 8 trials whole (Optuna's parameters, the config the space built, the config's
stream shapes and its network's parameter count). Optuna refuses a categorical parameter whose
choices change, even in order, between the trials of a study; so if a change to the space makes
the first test fail on purpose, studies begun before that change can no longer be resumed:
say so in the change's note, and regenerate the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from merauto.evaluator.model import build_model, count_parameters
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.space import SpaceContext, define_by_run, resolve

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "space_before_redesign.json").read_text())
CONTEXTS = {
    "every option": None,
    "composite with landmarks": SpaceContext(landmarks=True, n_sources=3, au_labels=True, pretrained=True),
}
TRIALS = [trial for context in FIXTURE["contexts"].values() for trial in context["trials"]]
# Changed on purpose since the fixture. Parameters added later are sampled after every earlier one
# (a study keeps each earlier parameter's history, though a seeded RandomSampler's draws shift), and
# take these values in the trials of before; cutmix joined the augment choices, so studies begun
# before it cannot be resumed.
AS_BEFORE = {"training.seeds": 1, "training.averaging": "none", "training.sampling": "shuffle"}
ADDED_PARAMS = {*AS_BEFORE, "training.ema_decay", "training.swa_start", "augment.cutmix.alpha", "augment.cutmix.prob"}
ADDED_CHOICES = {"augment": ("cutmix",)}


def _with_added_choices(name: str, distributions: list[str]) -> list[str]:
    """The fixture's distributions of parameter ``name`` with the choices added since."""
    if name not in ADDED_CHOICES:
        return distributions
    grown = [optuna.distributions.json_to_distribution(d).choices + ADDED_CHOICES[name] for d in distributions]
    return [optuna.distributions.distribution_to_json(optuna.distributions.CategoricalDistribution(c)) for c in grown]


@pytest.mark.parametrize("name", list(CONTEXTS))
def test_the_space_offers_and_samples_exactly_what_it_did_before(name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    before = FIXTURE["contexts"][name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    distributions: dict[str, set[str]] = {}
    configs = []
    for _ in range(60):
        trial = study.ask()
        configs.append(define_by_run(trial, CONTEXTS[name]))
        for param, distribution in trial.distributions.items():
            distributions.setdefault(param, set()).add(optuna.distributions.distribution_to_json(distribution))
        study.tell(trial, 0.0)
    assert set(distributions) - set(before["distributions"]) == ADDED_PARAMS
    kept = {k: sorted(v) for k, v in distributions.items() if k not in ADDED_PARAMS}
    assert kept == {k: _with_added_choices(k, v) for k, v in before["distributions"].items()}
    for stored in before["trials"]:  # the trials of before, with the added parameters as they were, sample what they did
        study.enqueue_trial({**stored["params"], **AS_BEFORE})
        trial = study.ask()
        assert define_by_run(trial, CONTEXTS[name]) == PipelineConfig.from_dict(stored["config"])
        study.tell(trial, 0.0)


@pytest.mark.parametrize("stored", TRIALS, ids=[f"{t['config']['input']['name']}-{i}" for i, t in enumerate(TRIALS)])
def test_a_stored_config_and_an_old_trials_parameters_load_as_the_pipeline_that_ran(stored: dict) -> None:
    config = PipelineConfig.from_dict(stored["config"])
    assert resolve(config) == config  # nothing left to fill in
    assert resolve(PipelineConfig.from_params(stored["params"])) == config  # an old study's trial names the same pipeline
    torch.manual_seed(0)
    shapes = {name: tuple(shape) for name, shape in stored["stream_shapes"].items()}
    assert count_parameters(build_model(config, shapes, 3)) == stored["n_params"]  # the same network
