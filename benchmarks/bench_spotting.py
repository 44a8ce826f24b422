"""What `merauto spot`'s memo saves: spotter trials evaluated under nested LOSO with the memo a
search keeps across trials (the flow bank: one Farneback pass per video and gap, every statistic
and field size kept; trained scorers by training subjects and parameters) against the plain
baseline, a fresh memo per trial, in the same run on the same parameter draws; and a third pass
as a later run sees it: a fresh memo whose flow bank reads the content-addressed cache the
second pass wrote. All three must give identical scores. The draws are a finished search's first
trials (``--from-run``: what TPE actually asks, revisiting windows) or random.

    python benchmarks/bench_spotting.py --size small --trials 8 --from-run merauto-runs/spot-synthetic-lv-small
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna

from merauto.data.cache import FeatureCache
from merauto.data.long_videos.folders import load_long_videos
from merauto.data.synthetic.long_video import LongVideoSpec, ensure_long_videos
from merauto.evaluator.spotters import SPOTTERS, Memo, evaluate
from merauto.evaluator.spotters.flow_bank import FlowBank
from merauto.pipeline.registry import suggest_choice
from merauto.results.spotting.store import load_spot_trials


def draws(spotter: str, n: int, seed: int) -> list[dict]:
    """``n`` parameter sets of ``spotter`` drawn at random from its searched choices (seeded)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        _, params = suggest_choice(trial, SPOTTERS, lambda s: s.name == spotter)
        out.append(params)
        study.tell(trial, 0.0)
    return out


def search_draws(run_dir: Path, spotter: str, n: int) -> list[dict]:
    """The parameters of the first ``n`` trials of ``spotter`` in the spotting run ``run_dir``, in the order the search ran them."""
    return [t.spotter_params for t in sorted(load_spot_trials(run_dir), key=lambda t: t.number) if t.spotter == spotter][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", help="synthetic long-video size: tiny or small")
    parser.add_argument("--trials", type=int, default=6, help="parameter draws per spotter")
    parser.add_argument("--spotters", default=",".join(SPOTTERS.names()))
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/merauto-bench-data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-run", type=Path, default=None, help="take the draws from this spotting run's trials")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = LongVideoSpec(size=args.size)
    videos = load_long_videos(ensure_long_videos(spec, args.cache_dir), spec.fps)
    frames = sum(len(v.frames) for v in videos)
    print(f"synthetic-lv {args.size}: {len(videos)} videos, {frames} frames, {len({v.subject for v in videos})} subjects")
    header = f"{'spotter':<14}{'trials':>7}{'fresh memo s':>14}{'shared memo s':>15}{'ratio':>8}{'cached flow s':>15}{'ratio':>8}"
    print(header + "  same scores")
    for spotter in args.spotters.split(","):
        settings = search_draws(args.from_run, spotter, args.trials) if args.from_run else draws(spotter, args.trials, args.seed)
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            fresh = [evaluate(videos, spotter, p, Memo()).objective() for p in settings]
            plain = time.perf_counter() - started
            memo = Memo(FlowBank(FeatureCache(Path(cache))))
            started = time.perf_counter()
            shared = [evaluate(videos, spotter, p, memo).objective() for p in settings]
            kept = time.perf_counter() - started
            started = time.perf_counter()
            again = [evaluate(videos, spotter, p, Memo(FlowBank(FeatureCache(Path(cache))))).objective() for p in settings]
            cached = time.perf_counter() - started
        same = fresh == shared == again
        ratios = f"{plain / kept:>7.1f}x{cached:>15.1f}{plain / cached:>7.1f}x"
        print(f"{spotter:<14}{len(settings):>7}{plain:>14.1f}{kept:>15.1f}{ratios}  {same}")


if __name__ == "__main__":
    main()
