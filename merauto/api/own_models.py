"""``merauto.evaluate()``: a researcher's own torch network scored under merauto's nested protocol,
on the inputs and with the loss and training settings of a literature preset, without a search."""

from __future__ import annotations

import difflib
import inspect
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from merauto.data.cache import FeatureCache
from merauto.data.datasets import validate_dataset
from merauto.data.features import inputs_for
from merauto.data.request import cache_dir_from, dataset_request
from merauto.errors import MerautoError
from merauto.evaluator.device import resolve_device
from merauto.evaluator.model import build_model, count_parameters
from merauto.evaluator.nested import EvalData, TrialOutcome, evaluate_trial
from merauto.evaluator.own_network import ModelFactory
from merauto.evaluator.protocol import check_protocol, parse_inner, parse_outer
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.options import check_device
from merauto.pipeline.config import PipelineConfig, TrainingConfig
from merauto.results.arguments import check_resamples
from merauto.results.report.paper_table import estimate_record
from merauto.results.selection import Estimate, trial_estimate
from merauto.results.store import StoredTrial
from merauto.search_space.presets import PRESETS

OWN_ROLE = "your network (nested: epochs chosen on inner validation)"


def _config(preset: str, training: dict[str, Any]) -> PipelineConfig:
    """The preset's pipeline with ``training``'s settings replaced, or a clear error naming what is unknown."""
    if preset not in PRESETS:
        raise MerautoError(f"preset {preset!r} is not a literature preset", f"choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainingConfig)}
    for name in training:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise MerautoError(f"training setting {name!r} is unknown", f"{hint}the settings: {', '.join(sorted(known))}")
    config = PRESETS[preset]
    return replace(config, training=replace(config.training, **training))


def _estimate(outcome: TrialOutcome, config: PipelineConfig, name: str) -> Estimate:
    """An evaluation's pooled outer-test predictions, as a search's trial would give them."""
    trial = StoredTrial(0, "complete", None, config, outcome.objective(), None, None, None, outcome)
    return trial_estimate(trial, name, "one pipeline, its epochs chosen on inner validation per outer fold")


def evaluate(
    model_factory: ModelFactory,
    dataset: str = "synthetic",
    *,
    preset: str = "ststnet",
    training: dict[str, Any] | None = None,
    inner: str = "holdout:0.25",
    outer: str = "loso",
    refit: bool = True,
    seed: int = 0,
    device: str = "auto",
    resamples: int = 1000,
    reference: bool = False,
    cache_dir: str | Path | None = None,
    **dataset_options: Any,
) -> pd.DataFrame:
    """Score a network of your own by nested cross-validation, as a search scores each trial.

    ``model_factory(stream_shapes, n_classes)`` returns a :class:`torch.nn.Module` mapping the input
    streams (a dict of name -> (batch, *shape) float tensors, standardised on each model's training
    rows) to class logits. It trains on the inputs of ``preset`` with its loss and training
    settings, ``training`` replacing any of them (e.g. ``{"max_epochs": 30, "lr": 3e-4}``); every
    outer fold's epochs are chosen on its inner validation (``inner``, ``outer``: as ``merauto search``
    takes them), then its test subjects are predicted once. ``dataset`` and ``dataset_options`` are
    ``merauto search``'s (``synthetic_size="tiny"``, ``data_root=...``). With ``reference`` the
    preset's own network is scored the same way, in a second row.

    Returns one row per network: pooled outer-test ``uf1`` and ``uar`` with 95% subject-bootstrap
    interval bounds (``resamples`` resamples of whole subjects), overall and per source
    (``uf1_SOURCE``, ...), the pooled inner-validation UF1 (``inner_uf1``) and ``n_params``.

    A network of merauto's own reproduces the preset's evaluation:

    >>> import tempfile
    >>> ststnet = lambda shapes, n_classes: build_model(PRESETS["ststnet"], shapes, n_classes)
    >>> scores = evaluate(ststnet, synthetic_size="tiny", training={"max_epochs": 2}, resamples=100, reference=True,
    ...                   cache_dir=tempfile.mkdtemp())
    >>> scores[["estimate", "n_params"]].values.tolist()
    [['your network', 1683], ['preset ststnet', 1683]]
    >>> bool((scores.loc[0, "uf1":"uar_smic_high"] == scores.loc[1, "uf1":"uar_smic_high"]).all())
    True
    """
    check_resamples(resamples)
    unknown = set(dataset_options) - set(inspect.signature(dataset_request).parameters)
    if unknown:
        raise MerautoError(f"merauto.evaluate() has no option {sorted(unknown)[0]!r}", "the dataset options are those of merauto search")
    config = _config(preset, training or {})
    request = dataset_request(dataset=dataset, **dataset_options)
    inner_spec, outer_spec = parse_inner(inner), parse_outer(outer)
    check_device(device)
    cache = cache_dir_from(cache_dir)
    index = validate_dataset(request, cache).require()
    check_protocol(outer_spec, inner_spec, index.labels, index.subjects, index.sources, index.ids, seed)
    data = EvalData.of(index, inputs_for(config, index, FeatureCache(cache)))
    settings = EvaluationSettings(inner=inner_spec, refit=refit, seed=seed, device=resolve_device(device), outer=outer_spec)
    shapes = {name: tuple(array.shape[1:]) for name, array in data.inputs.items()}
    runs = [("your network", evaluate_trial(config, data, settings, build=model_factory), model_factory(shapes, data.n_classes))]
    if reference:
        runs.append((f"preset {preset}", evaluate_trial(config, data, settings), build_model(config, shapes, data.n_classes)))
    estimates = [(_estimate(outcome, config, name), outcome, network) for name, outcome, network in runs]
    by_source = estimates[0][0].by_source
    sources = sorted(by_source) if len(by_source) > 1 else []
    records = []
    for e, outcome, network in estimates:
        record = estimate_record(e, sources, resamples)
        record["role"] = OWN_ROLE if e.name == "your network" else record["role"]
        records.append({**record, "inner_uf1": outcome.objective(), "n_params": count_parameters(network)})
    return pd.DataFrame(records)
