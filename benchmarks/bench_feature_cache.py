"""Benchmark: building every input stream and every preprocessing option cold versus from the cache.

For each row, clips per second cold (a fresh cache: frames read, apex spotted, face registered,
magnified, stream built) and cached (a second builder over the same cache, as a second search or
a new worker would start), and their ratio, measured in the same run. Rows: the default stream of
every input type, then each preprocessing option (face, magnification, regions) on the flow stream
and magnification on the apex frame.

    python benchmarks/bench_feature_cache.py --size small
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from merauto.data.cache import FeatureCache, fingerprint_sample
from merauto.data.datasets import DatasetRequest, load_index
from merauto.data.features import FeatureBuilder
from merauto.data.inputs import INPUTS
from merauto.data.streams import StreamSpec
from merauto.data.synthetic.generator import SyntheticSpec

FLOW = {"size": 28, "method": "farneback", "channels": "u+v+strain"}
OPTIONS = [
    ("face haar", "flow_strain", FLOW, {"face": ("haar", {})}),
    ("magnification evm a=8", "flow_strain", FLOW, {"magnification": ("evm", {"alpha": 8})}),
    ("face haar + evm a=8", "flow_strain", FLOW, {"face": ("haar", {}), "magnification": ("evm", {"alpha": 8})}),
    ("evm a=8 on the apex frame", "apex_frame", {"size": 28}, {"magnification": ("evm", {"alpha": 8})}),
    ("flow: u+v+strain+magnitude+orientation", "flow_strain", {**FLOW, "channels": "u+v+strain+magnitude+orientation"}, {}),
    ("flow: dis", "flow_strain", {**FLOW, "method": "dis"}, {}),
    ("roi grid n=3", "flow_strain", FLOW, {"roi": ("grid", {"n": 3})}),
    ("roi eyes_mouth", "flow_strain", FLOW, {"roi": ("eyes_mouth", {})}),
    ("roi mask_eyes", "flow_strain", FLOW, {"roi": ("mask_eyes", {})}),
    ("roi landmark_patches", "flow_strain", FLOW, {"roi": ("landmark_patches", {})}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "composite"), help="synthetic dataset size")
    default_data = Path(tempfile.gettempdir()) / "merauto-bench-data"
    parser.add_argument("--data-cache", type=Path, default=default_data, help="where the dataset is generated")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a search worker uses --cpus-per-trial)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    index = load_index(DatasetRequest("synthetic", SyntheticSpec(size=args.size)), args.data_cache)
    readers: dict[StreamSpec, list[str]] = {}  # a stream shared by inputs is measured once
    for kind in INPUTS:
        for spec in kind.streams(kind.resolve({})).values():
            readers.setdefault(spec, []).append(kind.name)
    rows = [(f"{spec.kind} ({', '.join(names)})", spec) for spec, names in readers.items()]
    rows += [(label, StreamSpec.of(kind, upstream, **params)) for label, kind, params, upstream in OPTIONS]
    fingerprints = {sample.id: fingerprint_sample(sample) for sample in index}  # once, as the search driver does
    print(f"dataset synthetic-{args.size}: {len(index)} clips; torch threads {args.threads}")
    print(f"{'stream':<66} {'cold clips/s':>12} {'cached clips/s':>15} {'ratio':>7}")
    for label, spec in rows:
        with tempfile.TemporaryDirectory() as features:
            cold = FeatureBuilder(index, FeatureCache(Path(features)), fingerprints)
            started = time.perf_counter()
            cold.stream(spec)
            cold_s = time.perf_counter() - started
            warm = FeatureBuilder(index, FeatureCache(Path(features)), fingerprints)
            started = time.perf_counter()
            warm.stream(spec)
            warm_s = time.perf_counter() - started
            assert warm.stats.computed == 0
            print(f"{label:<66} {len(index) / cold_s:>12.1f} {len(index) / warm_s:>15.1f} {cold_s / warm_s:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
