"""A pure function of config, data and protocol: the registered network parts (blocks,
topologies, trunks, fusion, heads, losses, optimisers, schedules, weight averages, augmentation,
training strategies), the model factory, the fold-parallel training engine, pre-training, the
protocols (nested LOSO and friends), the metrics, and a trained network as ONNX (export,
latency, the check against torch). Runs without Ray or Optuna."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EvalData": "nested",
        "EvaluationSettings": "settings",
        "TrialOutcome": "nested",
        "evaluate_trial": "nested",
        "study_folds": "nested",
        "InnerSpec": "protocol",
        "OuterSpec": "protocol",
        "parse_inner": "protocol",
        "parse_outer": "protocol",
        "build_model": "model",
        "count_parameters": "model",
        "Member": "engine",
        "ModelSet": "engine",
        "BLOCKS": "blocks",
        "TOPOLOGIES": "topologies",
        "VECTOR_TRUNKS": "vector_trunks",
        "TEMPORAL_TRUNKS": "temporal",
        "FUSIONS": "fusion",
        "TASKS": "heads",
        "LOSSES": "losses",
        "OPTIMISERS": "optim",
        "SCHEDULES": "optim",
        "AVERAGING": "optim",
        "AUGMENTS": "augment",
        "STRATEGIES": "strategies",
        "initial_weights": "pretrain",
        "resolve_device": "device",
        "export_onnx": "onnx_model",
        "onnx_latency_ms": "onnx_model",
        "verify_onnx": "onnx_model",
        "scores": "metrics",
        "uar": "metrics",
        "uf1": "metrics",
    },
)
