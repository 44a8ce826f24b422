"""Benchmark: subject-bootstrap intervals, one matrix product for every draw against a pass over the rows of each.

merauto's intervals (:func:`merauto.evaluator.metrics.subject_bootstrap` and
:func:`~merauto.evaluator.metrics.paired_subject_bootstrap`) weight each subject's confusion matrix
by how often a draw took it. The baseline here is the plain way, measured in the same run: gather
each draw's rows and score them (merauto did this before). Both take the same draws from the same
generator, so the intervals must be equal; the tool checks that, then prints seconds and the ratio.

    python benchmarks/bench_bootstrap.py                       # the composite's size: 442 clips of 68 subjects
    python benchmarks/bench_bootstrap.py --clips 29 --subjects 6 --resamples 1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from merauto.evaluator.metrics import paired_subject_bootstrap, subject_bootstrap, uar, uf1


def plain_draws(subjects: np.ndarray, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of each draw of whole subjects with replacement (the generator used as merauto uses it)."""
    unique = np.unique(subjects)
    members = [np.flatnonzero(subjects == s) for s in unique]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))]) for _ in range(n_resamples)]


def plain_interval(values: list | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles of ``values`` (of each column)."""
    low, high = np.percentile(values, [2.5, 97.5], axis=0)
    return low, high


def plain(y_true: np.ndarray, a: np.ndarray, b: np.ndarray, subjects: np.ndarray, n: int, resamples: int) -> tuple:
    """The intervals of UF1(a), UAR(a) and UF1(a) - UF1(b), UAR(a) - UAR(b), one pass over each draw's rows."""
    draws = plain_draws(subjects, resamples, 0)
    single = {m.__name__: plain_interval([m(y_true[d], a[d], n) for d in draws]) for m in (uf1, uar)}
    pairs = np.array([[m(y_true[d], a[d], n) - m(y_true[d], b[d], n) for m in (uf1, uar)] for d in draws])
    low, high = plain_interval(pairs)
    single_float = {k: (float(lo), float(hi)) for k, (lo, hi) in single.items()}
    return single_float, {"uf1": (float(low[0]), float(high[0])), "uar": (float(low[1]), float(high[1]))}


def merauto_way(y_true: np.ndarray, a: np.ndarray, b: np.ndarray, subjects: np.ndarray, n: int, resamples: int) -> tuple:
    single = {m.__name__: subject_bootstrap(y_true, a, subjects, m, n, resamples) for m in (uf1, uar)}
    return single, paired_subject_bootstrap(y_true, a, b, subjects, n, resamples)


def best_of(repeats: int, run: Callable[[], tuple]) -> tuple[float, tuple]:
    """The fastest of ``repeats`` runs, and what it returned."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=442)
    parser.add_argument("--subjects", type=int, default=68)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the fastest is reported")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, args.classes, args.clips)
    a = np.where(rng.random(args.clips) < 0.7, y_true, rng.integers(0, args.classes, args.clips))  # about 70% right
    b = np.where(rng.random(args.clips) < 0.6, y_true, rng.integers(0, args.classes, args.clips))
    subjects = np.array([f"s{s:02d}" for s in rng.integers(0, args.subjects, args.clips)])
    data = (y_true, a, b, subjects, args.classes, args.resamples)

    plain_s, expected = best_of(args.repeats, lambda: plain(*data))
    merauto_s, got = best_of(args.repeats, lambda: merauto_way(*data))
    if got != expected:
        raise SystemExit(f"the intervals differ: plain {expected}, merauto {got}")
    print(f"{args.clips} clips, {args.subjects} subjects, {args.resamples} draws; UF1 and UAR intervals, and their paired differences")
    print(f"plain (score each draw's rows): {plain_s:.3f} s")
    print(f"merauto (weighted subject confusions): {merauto_s:.3f} s")
    print(f"speed-up: {plain_s / merauto_s:.1f}x, same intervals")


if __name__ == "__main__":
    main()
