"""What an exported preset costs to run on a CPU: torch against onnxruntime, one clip at a time.

For each literature preset: its parameters, the median milliseconds torch (eval mode, inference
mode, one thread) and onnxruntime (``merauto.evaluator.onnx_model.onnx_latency_ms``: one intra-op
and one inter-op thread) take to classify one clip (batch 1, after warm-up runs), their ratio
(above 1: onnxruntime is faster), the size of ``model.onnx`` and the largest logit difference of
the two on 64 random standardised clips. Stream shapes are those the preset's inputs have on the
tiny synthetic set. The two runtimes are measured in the same process, alternating for
``--rounds`` rounds, and each column is the median of its rounds' medians.

    python benchmarks/bench_export.py --repeats 200 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import inputs_for
from merauto.data.synthetic.generator import SyntheticSpec
from merauto.evaluator.model import build_model, count_parameters
from merauto.evaluator.onnx_model import WARMUP_RUNS, export_onnx, onnx_latency_ms, verify_onnx
from merauto.search_space.presets import PRESETS


def torch_latency_ms(model: torch.nn.Module, shapes: dict[str, tuple[int, ...]], repeats: int) -> float:
    """Median milliseconds of one clip through ``model`` in torch (eval and inference mode), after warm-up runs."""
    rng = np.random.default_rng(0)
    clip = {name: torch.from_numpy(rng.standard_normal((1, *shape)).astype(np.float32)) for name, shape in shapes.items()}
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            model(clip)
        for _ in range(repeats):
            start = time.perf_counter()
            model(clip)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument("--repeats", type=int, default=200, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating torch / onnxruntime measurements per preset")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    cache = Path(os.environ.get("MERAUTO_CACHE", Path.home() / ".cache" / "merauto"))
    index = load_index(DatasetRequest("synthetic", SyntheticSpec(size="tiny")), cache)
    load = os.getloadavg()[0]
    print(f"batch 1, one thread, median of {args.rounds} rounds x {args.repeats} runs; torch {torch.__version__}; load average {load:.1f}")
    print(f"{'preset':<16}{'params':>8}{'streams':>22}{'torch ms':>10}{'onnx ms':>10}{'torch/onnx':>12}{'onnx KB':>9}{'max |dlogit|':>14}")
    for name in args.presets.split(","):
        config = PRESETS[name]
        shapes = {k: tuple(a.shape[1:]) for k, a in inputs_for(config, index, FeatureCache(cache)).items()}
        model = build_model(config, shapes, len(index.classes)).eval()
        by_torch, by_onnx = [], []
        for _ in range(args.rounds):
            by_torch.append(torch_latency_ms(model, shapes, args.repeats))
            by_onnx.append(onnx_latency_ms(model, shapes, args.repeats))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            export_onnx(model, shapes, path)
            rng = np.random.default_rng(1)
            clips = {k: rng.standard_normal((64, *shape)).astype(np.float32) for k, shape in shapes.items()}
            difference = verify_onnx(path, model, clips, atol=1e-4, rtol=1e-4)
            size = path.stat().st_size / 1024
        t, o = statistics.median(by_torch), statistics.median(by_onnx)
        streams = " ".join(f"{k}{list(s)}".replace(" ", "") for k, s in shapes.items())
        print(f"{name:<16}{count_parameters(model):>8}{streams:>22}{t:>10.3f}{o:>10.3f}{t / o:>11.1f}x{size:>9.1f}{difference:>14.1e}")


if __name__ == "__main__":
    main()
