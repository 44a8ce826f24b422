"""The report's figures say what they show: every option labelled, importances per slot with a
caveat when there are too few trials, the selected pipeline in words."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from merauto.pipeline.config import SLOTS
from merauto.results.report.figures import TRUSTED_IMPORTANCE_TRIALS, importance_figure, options_figure, paired_figure
from merauto.results.report.html import pipeline_in_words
from merauto.results.selection import Estimate
from merauto.results.store import StoredTrial
from merauto.search_space.describe import sample_configs
from merauto.search_space.presets import PRESETS


def _study(n_trials: int) -> optuna.Study:
    """Trials with conditional parameters, as define-by-run records them."""
    rng = np.random.default_rng(0)
    study = optuna.create_study(direction="maximize")
    for _ in range(n_trials):
        block = str(rng.choice(["conv", "capsule"]))
        params = {"block": block, f"block.{block}.width": float(rng.uniform(1, 8)), "training.lr": float(rng.uniform(1e-4, 1e-2))}
        distributions = {
            "block": CategoricalDistribution(["conv", "capsule"]),
            f"block.{block}.width": FloatDistribution(1, 8),
            "training.lr": FloatDistribution(1e-4, 1e-2),
        }
        value = (block == "conv") + rng.normal(0, 0.1)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    return study


def test_importances_are_per_slot_with_a_caveat_below_the_trusted_count() -> None:
    few = importance_figure(_study(8))
    (bars,) = few.data
    assert sorted(bars.y) == ["block", "training"]  # conditional parameters are summarised by their slot, not drawn one by one
    assert list(few.layout.yaxis.tickvals) == list(bars.y)
    assert "too few to trust" in few.layout.title.text
    assert "too few" not in importance_figure(_study(TRUSTED_IMPORTANCE_TRIALS)).layout.title.text
    assert importance_figure(_study(1)) is None


def test_every_option_tried_is_labelled() -> None:
    configs = sample_configs(12, seed=3)
    trials = [StoredTrial(i, "complete", None, c, 0.5, None, None, None, None) for i, c in enumerate(configs)]
    figure = options_figure(trials)
    assert len(figure.data) == len(SLOTS)
    for i, bars in enumerate(figure.data):
        axis = figure.layout[f"yaxis{i + 1 if i else ''}"]
        assert list(axis.tickvals) == list(axis.ticktext) == list(bars.y)  # a tick label for every bar
        assert sum(bars.x) == len(configs)


def test_the_pipeline_in_words_names_each_part() -> None:
    lines = pipeline_in_words(PRESETS["ststnet"])
    assert lines[0].startswith("input: flow_strain") and any(line.startswith("network: branches") for line in lines)
    assert lines[-1].startswith("training: ") and "epochs" in lines[-1]


def test_the_paired_comparison_reports_the_difference_over_the_same_subjects() -> None:
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    subjects = np.repeat(["a", "b", "c", "d"], 2)
    sources = np.full(8, "casme2")
    selected = Estimate("global selection", "", {}, truth, truth.copy(), subjects, sources, ("n", "p", "s"))
    preset = Estimate("preset ststnet", "", {}, truth, np.zeros(8, int), subjects, sources, ("n", "p", "s"))
    figure = paired_figure(selected, preset, n_resamples=200)
    assert "ΔUF1 +" in figure.layout.title.text and "better on 4, worse on 0 subjects" in figure.layout.title.text
    assert len(figure.data[0].x) == 4
