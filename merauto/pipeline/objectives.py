"""What a search optimises: inner-validation UF1 alone, or UF1 against model cost, with limits.

Each objective is a number a trial reports (its metric name in Ray Tune and the results) and a
direction. UF1 is always first: multi-fidelity prunes on it alone, and the selected pipeline is
the feasible trial with the best UF1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from merauto.errors import MerautoError


@dataclass(frozen=True)
class Objective:
    """One objective: the trial metric that carries it, its Optuna direction and how a person reads it."""

    metric: str
    direction: str  # "maximize" or "minimize"
    label: str


OBJECTIVES = {
    "uf1": Objective("inner_uf1", "maximize", "inner-validation UF1"),
    "params": Objective("n_params", "minimize", "trainable parameters"),
    "latency": Objective("latency_ms", "minimize", "CPU latency (ms per clip, onnxruntime, one thread)"),
}
LATENCY_METRIC = OBJECTIVES["latency"].metric


def parse_objectives(text: str) -> tuple[str, ...]:
    """``--objectives``: ``uf1`` first, then any of ``params`` and ``latency``, or a clear error."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in OBJECTIVES]
    if not names or names[0] != "uf1" or unknown or len(set(names)) != len(names):
        raise MerautoError(
            f"--objectives {text!r}: " + (f"unknown {', '.join(unknown)}" if unknown else "uf1 must come first, each objective once"),
            "use uf1 (default), uf1,params, uf1,latency or uf1,params,latency",
        )
    return names


@dataclass(frozen=True)
class CostLimits:
    """Constraints on a trial's cost (``--max-params``, ``--max-latency-ms``); a trial beyond one is infeasible."""

    max_params: int | None = None
    max_latency_ms: float | None = None

    def __bool__(self) -> bool:
        return self.max_params is not None or self.max_latency_ms is not None

    def violations(self, n_params: int | None, latency_ms: float | None) -> dict[str, float]:
        """Optuna constraint values by limit (feasible when every one is <= 0); an unmeasured cost violates its limit."""
        values = {}
        for name, limit, cost in (("max_params", self.max_params, n_params), ("max_latency_ms", self.max_latency_ms, latency_ms)):
            if limit is not None:
                values[name] = math.inf if cost is None else float(cost) - float(limit)
        return values

    def feasible(self, n_params: int | None, latency_ms: float | None) -> bool:
        """Whether a trial of this cost satisfies every limit."""
        return all(v <= 0 for v in self.violations(n_params, latency_ms).values())

    def describe(self) -> str:
        """The limits in words (empty when there are none)."""
        parts = [f"at most {self.max_params} parameters" if self.max_params is not None else ""]
        parts.append(f"at most {self.max_latency_ms:g} ms per clip" if self.max_latency_ms is not None else "")
        return " and ".join(p for p in parts if p)


def check_limits(limits: CostLimits) -> None:
    """Refuse a limit that no trial could meet."""
    if limits.max_params is not None and limits.max_params < 1:
        raise MerautoError(f"--max-params {limits.max_params} must be at least 1", "pass e.g. --max-params 10000, or omit it")
    if limits.max_latency_ms is not None and not limits.max_latency_ms > 0:
        raise MerautoError(f"--max-latency-ms {limits.max_latency_ms:g} must be positive", "pass e.g. --max-latency-ms 5, or omit it")
