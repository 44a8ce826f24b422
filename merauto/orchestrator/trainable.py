"""What a Ray Tune worker runs for one trial: build inputs, evaluate nested LOSO, report.

Intermediate reports, one per rung of folds, carry the inner-validation UF1 of the folds done
so far and nothing else. The final report adds the
full outcome (with test predictions) for the results store, as JSON text (Ray Tune reserves
and flattens nested result keys); the searcher forwards nothing but ``inner_uf1`` to Optuna.
Every report names the Ray node that ran the trial (``ray_node``).
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from merauto.data.cache import FeatureCache
from merauto.data.features import inputs_for
from merauto.data.sample_index import SampleIndex
from merauto.evaluator.cost import CostModel, TrialWork, device_kind, trial_work
from merauto.evaluator.device import resolve_device
from merauto.evaluator.limits import TrialLimits, trial_limits
from merauto.evaluator.model import build_model, count_parameters
from merauto.evaluator.nested import EvalData, TrialOutcome, evaluate_trial
from merauto.evaluator.pretrain import initial_weights
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.study import COST_CEILINGS, COST_LOAD, COST_MODELS, COST_WORK, FOLD_SCORES, OBJECTIVE, PIPELINE, RUNG
from merauto.pipeline.config import PipelineConfig
from merauto.pipeline.objectives import LATENCY_METRIC


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker needs, shipped once per search through Ray's object store."""

    index: SampleIndex
    fingerprints: dict[str, str]
    cache_dir: Path
    evaluation: EvaluationSettings
    rungs: list[list[int]]
    device: str
    threads: int
    limits: TrialLimits = TrialLimits()  # its share of a local machine's memory, --trial-timeout
    measure_latency: bool = False  # the latency objective or --max-latency-ms: time the trial's model in onnxruntime


def evaluate_params(params: dict[str, Any], context: WorkerContext, report: Any = tune.report) -> None:
    """Evaluate the pipeline of a trial's Tune config (``params[PIPELINE]``, the config the space
    sampled, besides Optuna's flat parameters); never raises (failures are reported)."""
    started = time.perf_counter()
    node = ray_node()
    torch.set_num_threads(max(1, context.threads))
    try:
        config = PipelineConfig.from_json(params[PIPELINE])
        data = EvalData.of(context.index, inputs_for(config, context.index, FeatureCache(context.cache_dir), context.fingerprints))
        evaluation = replace(context.evaluation, device=resolve_device(context.device))
        shapes = {name: tuple(a.shape[1:]) for name, a in data.inputs.items()}
        n_params = count_parameters(build_model(config, shapes, data.n_classes))
        kind = device_kind(torch.device(evaluation.device), context.threads)
        work = counted_work(params.get(COST_WORK), kind) or trial_work(config, data, evaluation, torch.device(evaluation.device))
        models = params.get(COST_MODELS, {})
        idle = (CostModel.from_json(models[kind]) if kind in models else CostModel(kind)).predict(work)
        predicted = idle * float(params.get(COST_LOAD, 1.0))
        n_folds = len(context.rungs[-1])  # rungs are nested: the last one holds every fold
        last_rung = len(context.rungs) - 1
        latency: dict[str, float] = {}
        costs = {
            "predicted_s": predicted,
            "work_gflop": work.gflop,
            "work_mops": work.mops,
            "work_gelements": work.gelements,
            "device_kind": kind,
        }

        def result(status: str, rung: int, outcome: TrialOutcome, train_s: float) -> dict[str, Any]:
            return {
                **latency,
                **costs,
                OBJECTIVE: outcome.objective(),
                RUNG: rung + 1,
                FOLD_SCORES: outcome.fold_inner_uf1(),
                "status": status,
                "folds_done": len(outcome.folds),
                "work_fraction": len(outcome.folds) / n_folds,
                "train_s": train_s,
                "busy_s": (time.process_time() - cpu_started) / context.threads if kind.startswith("cpu") else None,
                PIPELINE: config.to_json(),
                "n_params": n_params,
                "seconds": time.perf_counter() - started,
                "outcome_json": json.dumps(outcome.to_json()),
                "ray_node": node,
            }

        ceiling = over_ceiling(predicted, params.get(COST_CEILINGS, {}))
        if ceiling is not None:  # not trained: the searcher records why (and a time budget re-runs it on resume)
            report(
                {
                    **costs,
                    OBJECTIVE: float("nan"),
                    "status": ceiling[0],
                    "reason": ceiling[1],
                    PIPELINE: config.to_json(),
                    "n_params": n_params,
                    "seconds": time.perf_counter() - started,
                    "ray_node": node,
                }
            )
            return
        training_started, cpu_started = time.perf_counter(), time.process_time()

        def on_rung(rung: int, so_far: TrialOutcome) -> None:
            if rung < last_rung:  # a scheduler may stop the trial here; it is then stored as pruned
                report(result("running", rung, so_far, time.perf_counter() - training_started))

        with trial_limits(context.limits):
            init = initial_weights(config, evaluation, context.cache_dir)
            outcome = evaluate_trial(config, data, evaluation, rungs=context.rungs, on_rung=on_rung, init=init)
            train_s = time.perf_counter() - training_started
            if context.measure_latency:  # the model's cost does not depend on its weights: an untrained one is timed
                from merauto.evaluator.onnx_model import onnx_latency_ms  # onnxruntime only where latency is measured

                latency[LATENCY_METRIC] = onnx_latency_ms(build_model(config, shapes, data.n_classes), shapes)
        report(result("ok", last_rung, outcome, train_s))
    except Exception as exc:  # a failed trial is recorded as failed and the search goes on
        report(
            {
                OBJECTIVE: float("nan"),
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - started,
                "ray_node": node,
            }
        )


def counted_work(counted: dict[str, Any] | None, kind: str) -> TrialWork | None:
    """The work the driver counted for this trial (:data:`COST_WORK`) if it counted it for this
    worker's kind of device: counting it again would give the same numbers (and, in a fresh worker,
    cost seconds of imports that training does not need). ``None``: count it here."""
    if counted is None or counted.get("kind") != kind:
        return None
    return TrialWork(counted["gflop"], counted["mops"], counted["gelements"])


def over_ceiling(predicted: float, ceilings: dict[str, float]) -> tuple[str, str] | None:
    """``(status, reason)`` if a trial predicted to train for ``predicted`` seconds must not start:
    over ``--max-trial-seconds`` (``too_costly``) or past the end of ``--time-budget`` (``past_budget``)."""
    limit = ceilings.get("max_trial_seconds")
    if limit is not None and predicted > limit:
        return "too_costly", f"predicted training time {predicted:.0f} s is over --max-trial-seconds {limit:.0f}"
    deadline = ceilings.get("deadline")
    if deadline is not None and time.time() + predicted > deadline:
        left = max(0.0, deadline - time.time())
        return "past_budget", f"predicted training time {predicted:.0f} s is more than the {left:.0f} s left of --time-budget"
    return None


def ray_node() -> str | None:
    """The id of the Ray node this worker runs on (``None`` outside Ray: asking would start a local Ray)."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def run_trial(params: dict[str, Any], context: WorkerContext) -> None:
    """Ray Tune function trainable (bound to its context with ``tune.with_parameters``)."""
    evaluate_params(params, context)
