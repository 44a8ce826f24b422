"""Proposals the search can afford, decided in the driver before a proposal becomes a trial.

The sampler's proposal is priced by the cost model (:mod:`merauto.evaluator.cost`: the work of
the pipeline's own model on the dataset's own inputs, times the calibrated seconds per unit of
work). A proposal predicted over the trial limit (``--max-trial-seconds``, by default a multiple
of the reference pipeline's own prediction) or over the time left of ``--time-budget`` is not a
trial: Optuna is told it was infeasible and the sampler proposes again, so ``--budget N`` buys
N trained pipelines. The worker checks again with its own device (a cluster's may differ).
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from merauto.data.cache import FeatureCache
from merauto.data.features import inputs_for
from merauto.data.sample_index import SampleIndex
from merauto.evaluator.cost import CostModel, TrialWork, device_kind, trial_work
from merauto.evaluator.device import resolve_device
from merauto.evaluator.nested import EvalData
from merauto.evaluator.settings import EvaluationSettings
from merauto.pipeline.config import PipelineConfig
from merauto.search_space.presets import PRESETS

MAX_REFUSALS_IN_A_ROW = 40  # proposals refused one after another before the search stops and says why
REFERENCE_PRESETS = ("ststnet", "off_apexnet", "lbp_top_linear")  # the first one the dataset can feed is the reference
_INPUT_SLOTS = ("input", "face", "magnification", "roi")  # what the model's inputs depend on


@dataclass(frozen=True)
class Refusal:
    """Why a proposal is not trained: its predicted training time and the limit it is over."""

    predicted_s: float
    limit_s: float
    limit: str  # "--max-trial-seconds" or "--time-budget"

    @property
    def reason(self) -> str:
        what = "the time left of --time-budget" if self.limit == "--time-budget" else f"--max-trial-seconds {self.limit_s:.0f}"
        return f"predicted training time {self.predicted_s:.0f} s is over {what}"


@dataclass(frozen=True)
class TrialCostLimit:
    """The most a trial may be predicted to train: ``seconds`` (``--max-trial-seconds``) or, when
    that is not given, ``relative`` times the reference pipeline's predicted time (same calibration,
    so the limit is a ratio of work and holds on any device); neither: no limit."""

    seconds: float | None = None
    relative: float | None = None
    reference: TrialWork | None = None
    reference_name: str | None = None

    def seconds_under(self, model: CostModel, load: float = 1.0) -> float | None:
        """The limit in seconds under ``model`` and the machine's ``load`` (``None``: no limit)."""
        if self.seconds is not None:
            return self.seconds
        if self.relative is None or self.reference is None:
            return None
        return self.relative * model.predict(self.reference) * load

    def describe(self, model: CostModel, load: float = 1.0) -> str:
        """The limit in words, for the search's first lines."""
        limit = self.seconds_under(model, load)
        if limit is None:
            return "trial cost limit: none (every proposal is trained)"
        if self.seconds is not None:
            return f"trial cost limit: --max-trial-seconds {limit:.0f}"
        return (
            f"trial cost limit: {self.relative:g} x the {self.reference_name} preset's predicted training time = {limit:.0f} s "
            "(--max-trial-seconds SECONDS or none to change)"
        )


class CostPredictor:
    """Prices pipelines on the dataset's own inputs (read through the feature cache, by content)
    for the device this machine trains on; keeps the inputs of the last few input choices."""

    def __init__(
        self, index: SampleIndex, cache_dir: Path, fingerprints: dict[str, str], evaluation: EvaluationSettings, device: str, threads: int
    ) -> None:
        self.index, self.cache, self.fingerprints = index, FeatureCache(cache_dir), fingerprints
        self.evaluation = replace(evaluation, device=resolve_device(device))
        self.kind = device_kind(torch.device(self.evaluation.device), threads)
        self._data: OrderedDict[str, EvalData] = OrderedDict()
        self._work: dict[str, TrialWork] = {}

    def work(self, config: PipelineConfig) -> TrialWork:
        """What ``config`` does on this dataset under the run's protocol (memoised by config)."""
        key = config.to_json()
        if key not in self._work:
            data = self._inputs(config)
            self._work[key] = trial_work(config, data, self.evaluation, torch.device(self.evaluation.device))
        return self._work[key]

    def _inputs(self, config: PipelineConfig) -> EvalData:
        key = json.dumps([asdict(getattr(config, slot)) for slot in _INPUT_SLOTS], sort_keys=True)
        if key not in self._data:
            self._data[key] = EvalData.of(self.index, inputs_for(config, self.index, self.cache, self.fingerprints))
            if len(self._data) > 4:
                self._data.popitem(last=False)
        self._data.move_to_end(key)
        return self._data[key]

    def model(self, calibrations: dict[str, CostModel]) -> CostModel:
        """The calibration this machine's device kind has (the prior before any trial trained here)."""
        return calibrations.get(self.kind, CostModel(self.kind))

    def reference(self, max_epochs: int, runnable: Iterable[str]) -> tuple[str, TrialWork] | None:
        """The reference pipeline (the first of :data:`REFERENCE_PRESETS` the dataset can feed, epochs
        capped like the space's) and its work; ``None`` when it can feed none of them."""
        names = set(runnable)
        for name in REFERENCE_PRESETS:
            preset = PRESETS[name]
            if preset.input.name in names:
                capped = replace(preset, training=replace(preset.training, max_epochs=min(preset.training.max_epochs, max_epochs)))
                return name, self.work(capped)
        return None


def costliest_options(refused: list[tuple[dict[str, object], float]], top: int = 3) -> list[tuple[str, float, int]]:
    """The categorical choices whose refused proposals were predicted costliest: ``(param=value,
    median predicted seconds, proposals)``, for the message of a search that found nothing it could afford."""
    by_choice: dict[str, list[float]] = defaultdict(list)
    for params, seconds in refused:
        for name, value in params.items():
            if isinstance(value, str | bool) or name == "training.max_epochs":
                by_choice[f"{name}={value}"].append(seconds)
    ranked = sorted(((c, float(np.median(s)), len(s)) for c, s in by_choice.items() if len(s) >= 2), key=lambda r: -r[1])
    return ranked[:top]
