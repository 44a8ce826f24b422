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
from merauto.search_space.space import SpaceContext, define_by_run, resolve
from merauto.spec.config import PipelineConfig

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "space_before_redesign.json").read_text())
CONTEXTS = {
    "every option": None,
    "composite with landmarks": SpaceContext(landmarks=True, n_sources=3, au_labels=True, pretrained=True),
}
TRIALS = [trial for context in FIXTURE["contexts"].values() for trial in context["trials"]]


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
    assert {k: sorted(v) for k, v in distributions.items()} == before["distributions"]
    assert [c.to_dict() for c in configs[: len(before["trials"])]] == [t["config"] for t in before["trials"]]


@pytest.mark.parametrize("stored", TRIALS, ids=[f"{t['config']['input']['name']}-{i}" for i, t in enumerate(TRIALS)])
def test_a_stored_config_and_an_old_trials_parameters_load_as_the_pipeline_that_ran(stored: dict) -> None:
    config = PipelineConfig.from_dict(stored["config"])
    assert resolve(config) == config  # nothing left to fill in
    assert resolve(PipelineConfig.from_params(stored["params"])) == config  # an old study's trial names the same pipeline
    torch.manual_seed(0)
    shapes = {name: tuple(shape) for name, shape in stored["stream_shapes"].items()}
    assert count_parameters(build_model(config, shapes, 3)) == stored["n_params"]  # the same network
