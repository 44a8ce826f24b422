"""Benchmark: what a fresh Ray Tune worker spends on one trial, with and without the work the driver counted.

The driver counts each proposal's work (one training step under torch's FLOP and dispatch
counters) to price it before it trains. A worker handed that count (``cost_work``) reports it; a
worker without it counts again, which in a fresh process also imports what the counters need
(torch's dynamo, about 1.5 s of CPU) though training never does. Each run below is a fresh Python
process, as each trial actor of a search is, that evaluates one trial of ``--preset`` on the tiny
synthetic set; the baseline (no count handed over) is measured in the same run, alternating.

    python benchmarks/bench_worker_trial.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile

TRIAL = r"""
import json, sys
from dataclasses import replace
from pathlib import Path
from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import FeatureBuilder
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.study import COST_WORK, PIPELINE
from merauto.orchestrator.trainable import WorkerContext, evaluate_params
from merauto.search_space.presets import PRESETS

cache, preset, epochs, work = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
index = load_index(DatasetRequest("synthetic", SyntheticSpec(size="tiny")), cache)
fingerprints = FeatureBuilder(index, FeatureCache(cache)).fingerprints
context = WorkerContext(index, fingerprints, cache, EvaluationSettings(), [[0, 1, 2, 3, 4, 5]], "cpu", 1)
config = PRESETS[preset]
config = replace(config, training=replace(config.training, max_epochs=epochs))
params = {PIPELINE: config.to_json(), **({COST_WORK: work} if work else {})}
reports = []
evaluate_params(params, context, report=reports.append)
print(json.dumps({k: reports[-1].get(k) for k in ("status", "work_gflop", "work_mops", "train_s")}))
"""

COUNT = r"""
import json, sys
from dataclasses import asdict, replace
from pathlib import Path
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import FeatureBuilder
from merauto.data.cache import FeatureCache
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.settings import EvaluationSettings
from merauto.orchestrator.proposals import CostPredictor
from merauto.search_space.presets import PRESETS

cache, preset, epochs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
index = load_index(DatasetRequest("synthetic", SyntheticSpec(size="tiny")), cache)
predictor = CostPredictor(index, cache, FeatureBuilder(index, FeatureCache(cache)).fingerprints, EvaluationSettings(), "cpu", 1)
config = PRESETS[preset]
config = replace(config, training=replace(config.training, max_epochs=epochs))
print(json.dumps({"kind": predictor.kind, **asdict(predictor.work(config))}))
"""


def cpu_seconds_of(command: list[str]) -> tuple[float, str]:
    """CPU seconds (user + system) of ``command`` run as a child process, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ststnet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merauto-bench-") as tmp:
        cache = tmp
        _, counted = cpu_seconds_of([sys.executable, "-c", COUNT, cache, args.preset, str(args.epochs)])  # also fills the cache
        runs: dict[str, list[float]] = {"counts again": [], "handed the count": []}
        reported = {}
        for _ in range(args.repeats):
            for name, work in (("counts again", "{}"), ("handed the count", counted)):
                seconds, out = cpu_seconds_of([sys.executable, "-c", TRIAL, cache, args.preset, str(args.epochs), work])
                runs[name].append(seconds)
                reported[name] = json.loads(out)
    if reported["counts again"]["work_gflop"] != reported["handed the count"]["work_gflop"]:
        raise SystemExit(f"the work differs: {reported}")
    print(f"one trial of {args.preset} ({args.epochs} epochs, tiny set), each in a fresh process; CPU s, median of {args.repeats}")
    for name, seconds in runs.items():
        print(f"{name}: {statistics.median(seconds):.2f} s (runs: {', '.join(f'{s:.2f}' for s in seconds)})")
    saved = statistics.median(runs["counts again"]) - statistics.median(runs["handed the count"])
    ratio = statistics.median(runs["counts again"]) / statistics.median(runs["handed the count"])
    gflop = reported["handed the count"]["work_gflop"]
    print(f"saved per trial: {saved:.2f} s of CPU ({ratio:.2f}x); the same work reported either way ({gflop:.4g} GFLOP)")


if __name__ == "__main__":
    main()
