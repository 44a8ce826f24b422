"""What `merauto search` and ``merauto.search()`` are asked to do, from the options of the command line
by their names (underscores for dashes) and with its defaults: the :class:`SearchOptions` they run,
and the confirmation to run after the search. Imports no torch, Ray or Optuna, so a bad option is
refused at once."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merauto.data.request import cache_dir_from, dataset_request
from merauto.errors import MerautoError
from merauto.evaluator.protocol import parse_inner, parse_outer
from merauto.orchestrator.durations import parse_duration
from merauto.orchestrator.options import SearchOptions
from merauto.pipeline.objectives import CostLimits, parse_objectives
from merauto.results.arguments import check_confirm_options
from merauto.results.run_dir import DEFAULT_RUNS
from merauto.search_space.defaults import MAX_EPOCHS, RELATIVE_TRIAL_LIMIT, STARTUP_TRIALS


@dataclass(frozen=True)
class SearchRequest:
    """A search to run, and how many of its best trials to confirm over new seeds afterwards (0: none)."""

    options: SearchOptions
    confirm: int = 0
    confirm_seeds: int = 2


def trial_limit(text: str | float) -> dict[str, float | None]:
    """``--max-trial-seconds``: auto (a multiple of the reference preset's predicted time), none, or a duration."""
    if text == "auto":
        return {"max_trial_seconds": None, "relative_trial_limit": RELATIVE_TRIAL_LIMIT}
    if text == "none":
        return {"max_trial_seconds": None, "relative_trial_limit": None}
    return {"max_trial_seconds": parse_duration(str(text), "--max-trial-seconds"), "relative_trial_limit": None}


def _listed(value: str | Sequence[str]) -> str:
    """A comma-separated option given as text or as a list of names."""
    return value if isinstance(value, str) else ",".join(value)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def search_request(
    *,
    budget: int = 20,
    study: str | None = None,
    run_dir: str | Path | None = None,
    storage: str | None = None,
    max_epochs: int = MAX_EPOCHS,
    time_budget: str | float | None = None,
    max_trial_seconds: str | float = "auto",
    trial_timeout: float | None = None,
    seed: int = 0,
    seed_presets: bool = True,
    sampler: str = "local",
    startup_trials: int = STARTUP_TRIALS,
    warm_start: str | Path | None = None,
    confirm: int = 0,
    confirm_seeds: int = 2,
    outer: str = "loso",
    pruning: str | None = None,
    strict: bool = False,
    inner: str = "holdout:0.25",
    refit: bool = True,
    objectives: str | Sequence[str] = "uf1",
    max_params: int | None = None,
    max_latency_ms: float | None = None,
    audit: bool = False,
    init_checkpoint: str | Path | None = None,
    pretrain_dataset: str | None = None,
    ray_address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
    fold_batching: str = "auto",
    device: str = "auto",
    amp: bool = False,
    cache_dir: str | Path | None = None,
    **dataset_options: Any,
) -> SearchRequest:
    """The search the options ask for (``dataset_options``: those of
    :func:`~merauto.data.request.dataset_request`); see ``merauto search --help`` for each option.
    Durations are text (``"1h30m"``) or seconds; ``objectives`` and ``sources`` text or lists.

    >>> request = search_request(synthetic_size="tiny", budget=2, max_epochs=2, run_dir="runs/tiny")
    >>> request.options.study_name, request.options.pruning, request.options.run_dir
    ('synthetic-tiny', 'race', PosixPath('runs/tiny'))
    >>> search_request(confirm=2, strict=True)
    Traceback (most recent call last):
    merauto.errors.MerautoError: --confirm re-evaluates trials of one study; --strict runs a study per outer fold
      fix: drop --confirm or --strict
    """
    check_confirm_options(confirm, confirm_seeds, "--confirm", "--confirm-seeds")
    if confirm and strict:
        raise MerautoError("--confirm re-evaluates trials of one study; --strict runs a study per outer fold", "drop --confirm or --strict")
    dataset = dataset_request(**dataset_options)
    study = study or dataset.label()
    options = SearchOptions(
        dataset=dataset,
        run_dir=_path(run_dir) or DEFAULT_RUNS / study,
        study_name=study,
        cache_dir=cache_dir_from(cache_dir),
        budget=budget,
        storage_url=storage,
        time_budget_s=None if time_budget is None else parse_duration(str(time_budget), "--time-budget"),
        trial_timeout_s=trial_timeout,
        **trial_limit(max_trial_seconds),
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
        seed=seed,
        ray_address=ray_address,
        inner=parse_inner(inner),
        outer=parse_outer(outer),
        fold_batching=fold_batching,
        amp=amp,
        pruning=pruning or ("none" if strict else "race"),
        strict=strict,
        max_epochs=max_epochs,
        refit=refit,
        device=device,
        seed_presets=seed_presets,
        startup_trials=startup_trials,
        sampler=sampler,
        warm_start=_path(warm_start),
        init_checkpoint=_path(init_checkpoint),
        pretrain_dataset=pretrain_dataset,
        audit=audit,
        objectives=parse_objectives(_listed(objectives)),
        limits=CostLimits(max_params, max_latency_ms),
    )
    return SearchRequest(options, confirm, confirm_seeds)


def search_option_defaults() -> dict[str, Any]:
    """Every option of `merauto search` by its Python name, with its default (the dataset's options included)."""
    found: dict[str, Any] = {}
    for function in (dataset_request, search_request):
        for name, parameter in inspect.signature(function).parameters.items():
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD:
                found[name] = parameter.default
    return found
