"""The runnable examples in the docstrings of the central functions run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "merauto.pipeline.registry",
    "merauto.data.features",
    "merauto.evaluator.model",
    "merauto.evaluator.nested",
    "merauto.search_space.space",
    "merauto.results.pareto",
    "merauto.results.arguments",
    "merauto.data.request",
    "merauto.orchestrator.request",
    "merauto.api.searches",
    "merauto.api.pipelines",
    "merauto.api.own_models",
)


def _run(module_name: str) -> doctest.TestResults:
    module = importlib.import_module(module_name)
    return doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)


@pytest.mark.parametrize("module_name", MODULES)
def test_the_examples_of_the_central_functions_run(module_name: str) -> None:
    results = _run(module_name)
    assert results.attempted > 0 and results.failed == 0, module_name


@pytest.mark.slow
def test_the_search_example_runs_a_real_search_and_resumes_it() -> None:
    results = _run("merauto.orchestrator.search")
    assert results.attempted > 0 and results.failed == 0


@pytest.mark.slow
def test_the_python_api_example_searches_exports_and_predicts() -> None:
    results = _run("merauto.api.runs")
    assert results.attempted > 0 and results.failed == 0
