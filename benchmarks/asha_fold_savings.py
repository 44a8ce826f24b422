"""A model of ASHA over fold rungs: fold-trainings saved, and how often the best trial survives.

No training: each trial gets a true all-fold score (normal, ``--spread``) and, at each rung,
that score plus noise shrinking with the rung's share of the folds (``--noise`` is the noise
of one fold's score). Trials arrive one at a time and each rung applies the rule of Ray
Tune's ``AsyncHyperBandScheduler``: continue if the score is at least the (1 - 1/eta)
quantile of the scores recorded at that rung so far (the trial's own included), else stop.
Prints, per reduction factor, the rungs merauto uses for ``--folds``, the mean ratio of
fold-trainings without and with pruning, and the share of simulated searches whose best
surviving trial is within 0.01 of the best trial overall.

    python benchmarks/asha_fold_savings.py --folds 68 --trials 60

``--from-run DIR`` replays a real unpruned search instead of the model: its trials that ran
every fold, in the order they were sampled, each rung scored by the pooled inner-validation UF1
of the folds merauto's rungs hold for that reduction factor (the same folds a pruned study
would use). It prints, for ASHA's rule at each reduction factor and racing's
(``--pruning race:ALPHA``, rungs of ``asha:4``) at three significance levels, the
fold-trainings ratio, whether the best trial survives, the best surviving trial's inner UF1,
and how many trials each rung stopped. The
sampler would have proposed other trials after the first stop, so this isolates the rule
(rung noise, early promotions) from the search.

    python benchmarks/asha_fold_savings.py --from-run RUN_DIR --cache-dir /tmp/merauto-bench-data
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from merauto.evaluator.fidelity import MIN_RUNG_FOLDS, rung_sizes


def simulate(rungs: list[int], eta: int, args: argparse.Namespace, rng: np.random.Generator) -> tuple[float, float]:
    """One search: (fold-trainings ratio, best survivor's shortfall against the best trial)."""
    recorded: list[list[float]] = [[] for _ in rungs[:-1]]
    trainings, best, best_kept = 0, -np.inf, -np.inf
    for _ in range(args.trials):
        true = rng.normal(0.6, args.spread)
        best = max(best, true)
        for r, size in enumerate(rungs):
            trainings += size - (rungs[r - 1] if r else 0)
            if r == len(rungs) - 1:
                best_kept = max(best_kept, true)
                break
            score = true + rng.normal(0, args.noise * np.sqrt((1 - size / rungs[-1]) / size))
            recorded[r].append(score)
            if score < np.percentile(recorded[r], (1 - 1 / eta) * 100):
                break
    return args.trials * rungs[-1] / trainings, best - best_kept


def replay(run_dir: Path, cache_dir: Path) -> None:
    """Apply ASHA's rule to a finished unpruned search's trials, per reduction factor (see the module docstring)."""
    from merauto.data.datasets import load_index
    from merauto.orchestrator.plan import study_rungs
    from merauto.results.run_dir import load_run
    from merauto.results.store import ResultsStore

    info = load_run(run_dir)
    index = load_index(info.dataset, cache_dir)
    trials = [t for t in ResultsStore(run_dir).trials(info.study_name) if t.state == "complete"]
    n_folds = max(len(t.outcome.folds) for t in trials)
    trials = [t for t in trials if len(t.outcome.folds) == n_folds]
    best = max(t.objective for t in trials)
    print(f"{run_dir}: {len(trials)} trials that ran all {n_folds} folds, in sampling order; best inner UF1 {best:.3f}")
    print(f"{'rule':>9}  {'rungs':<18}{'fold-trainings ratio':>22}{'best kept':>11}{'best kept UF1':>15}  stopped per rung")
    for eta in (2, 3, 4, 5):
        rungs = study_rungs(index, replace(info, pruning=f"asha:{eta}"))
        _replay_rule(trials, rungs, n_folds, f"asha:{eta}", _asha_rule(eta))
    rungs = study_rungs(index, replace(info, pruning="race"))
    for alpha in (0.01, 0.05, 0.1):
        _replay_rule(trials, rungs, n_folds, f"race:{alpha:g}", _race_rule(alpha))


def _asha_rule(eta: int) -> Callable[[tuple[float, list[float]], list[tuple[float, list[float]]]], bool]:
    """ASHA: stop below the (1 - 1/eta) quantile of the rung's scores so far, this one's included."""
    return lambda score, recorded: score[0] < np.percentile([s for s, _ in recorded] + [score[0]], (1 - 1 / eta) * 100)


def _race_rule(alpha: float) -> Callable[[tuple[float, list[float]], list[tuple[float, list[float]]]], bool]:
    """Racing: stop when the fold scores are significantly below the rung leader's (merauto's ``racing_stops``)."""
    from merauto.evaluator.fidelity import racing_stops

    def rule(score: tuple[float, list[float]], recorded: list[tuple[float, list[float]]]) -> bool:
        return bool(recorded) and racing_stops(score[1], max(recorded)[1], alpha)

    return rule


def _replay_rule(trials: list, rungs: list[list[int]], n_folds: int, name: str, stops: Callable) -> None:
    """Feed the trials, in order, through a stopping rule over ``rungs``; print one table row."""
    from merauto.evaluator.metrics import uf1

    best = max(t.objective for t in trials)
    recorded: list[list[tuple[float, list[float]]]] = [[] for _ in rungs[:-1]]
    trainings, kept, stopped = 0, [], [0] * (len(rungs) - 1)
    for trial in trials:
        folds = {f.selection.fold: f.selection for f in trial.outcome.folds}
        for r, rung in enumerate(rungs):
            trainings += len(rung) - (len(rungs[r - 1]) if r else 0)
            if r == len(rungs) - 1:
                kept.append(trial.objective)
                break
            true = np.concatenate([folds[k].inner_true for k in rung])
            pred = np.concatenate([folds[k].inner_pred for k in rung])
            score = (uf1(true, pred, len(trial.outcome.classes)), [folds[k].inner_uf1 for k in sorted(rung)])
            stop = stops(score, recorded[r])
            recorded[r].append(score)
            if stop:
                stopped[r] += 1
                break
    ratio = len(trials) * n_folds / trainings
    sizes = str([len(r) for r in rungs])
    print(f"{name:>9}  {sizes:<18}{ratio:>21.2f}x{'yes' if max(kept) == best else 'no':>11}{max(kept):>15.3f}  {stopped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=68, help="outer folds (68: the composite's LOSO)")
    parser.add_argument("--trials", type=int, default=60, help="trials per search")
    parser.add_argument("--min-folds", type=int, default=MIN_RUNG_FOLDS, help="smallest rung merauto builds")
    parser.add_argument("--spread", type=float, default=0.06, help="sd of the trials' all-fold inner UF1")
    parser.add_argument("--noise", type=float, default=0.05, help="sd of one fold's inner UF1 around the trial's score")
    parser.add_argument("--searches", type=int, default=500, help="simulated searches per setting")
    parser.add_argument("--from-run", type=Path, default=None, help="replay this unpruned run's trials instead of the model")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "merauto-bench-data", help="the run's data cache")
    args = parser.parse_args()
    if args.from_run is not None:
        replay(args.from_run, args.cache_dir)
        return
    rng = np.random.default_rng(0)
    print(f"{args.folds} folds, {args.trials} trials, spread {args.spread}, noise per fold {args.noise}, {args.searches} searches each")
    print(f"{'eta':>4}  {'rungs':<16}{'fold-trainings ratio':>22}{'best within 0.01':>18}")
    for eta in (2, 3, 4, 5):
        rungs = rung_sizes(args.folds, eta, args.min_folds)
        runs = np.array([simulate(rungs, eta, args, rng) for _ in range(args.searches)])
        print(f"{eta:>4}  {str(rungs):<16}{runs[:, 0].mean():>21.2f}x{(runs[:, 1] <= 0.01).mean():>18.0%}")


if __name__ == "__main__":
    main()
