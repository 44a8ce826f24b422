"""Benchmark: building every input stream of a dataset cold versus from the content-addressed cache.

Reports clips per second for each stream, cold (computed from frames) and cached (a second
builder over the same cache, as a second search or a new worker would start), and their ratio,
measured in the same run.

    python benchmarks/bench_feature_cache.py --size small
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from merauto.data.cache import FeatureCache
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.data.synthetic.generator import SyntheticSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "composite"), help="synthetic dataset size")
    default_data = Path(tempfile.gettempdir()) / "merauto-bench-data"
    parser.add_argument("--data-cache", type=Path, default=default_data, help="where the dataset is generated")
    args = parser.parse_args()

    index = load_index(DatasetRequest("synthetic", SyntheticSpec(size=args.size)), args.data_cache)
    specs = sorted({spec for kind in INPUTS for spec in kind.streams(kind.resolve({})).values()}, key=str)
    print(f"dataset synthetic-{args.size}: {len(index)} clips")
    print(f"{'stream':<60} {'cold clips/s':>12} {'cached clips/s':>15} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as features:
        for spec in specs:
            cold = FeatureBuilder(index, FeatureCache(Path(features)))
            started = time.perf_counter()
            cold.stream(spec)
            cold_s = time.perf_counter() - started
            warm = FeatureBuilder(index, FeatureCache(Path(features)), cold.fingerprints)
            started = time.perf_counter()
            warm.stream(spec)
            warm_s = time.perf_counter() - started
            assert warm.stats.computed == 0
            print(f"{str(spec):<60} {len(index) / cold_s:>12.1f} {len(index) / warm_s:>15.1f} {cold_s / warm_s:>6.1f}x")


if __name__ == "__main__":
    main()
