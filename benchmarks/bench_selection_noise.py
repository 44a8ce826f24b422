"""Benchmark: how well a search's selection survives new seeds, before and after `merauto confirm`.

Copies a finished run (the original is not touched), reruns the nested evaluation of its
``--top`` trials by search score, of every preset and of the one-standard-error pick with
``--seeds`` + 1 new seeds each, then compares three selection rules on the last seed, which
no rule reads (a fresh draw of the training noise):

- search: the best search score (one seed; the selection before this issue);
- confirm: the best mean inner UF1 over the search's seed and the first ``--seeds`` new ones
  (what `merauto confirm --top K --seeds S` selects);
- one-SE: the trial with the fewest parameters whose search score is within one standard
  error (over outer folds) of the best.

For each rule it prints the chosen trial, its selection score, its fresh inner and outer UF1
and the drop from selection score to fresh score (the winner's curse); and over the
candidates the Spearman correlation of each rule's score with the fresh inner score.

    python benchmarks/bench_selection_noise.py RUN_DIR --top 6 --seeds 2 --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from scipy.stats import spearmanr

from merauto.evaluator.metrics import paired_subject_bootstrap
from merauto.results.confirm import confirm_candidates
from merauto.results.repeat import Repeater, repetition_seed
from merauto.results.run_dir import load_run
from merauto.results.selection import confirmed_per_fold_selection, eligible, per_fold_selection
from merauto.results.store import RepeatRecord, ResultsStore, StoredTrial

RUN_FILES = ("merauto.json", "results.db", "study.db")


def one_se_pick(trials: list[StoredTrial]) -> StoredTrial:
    """The fewest-parameter eligible trial within one standard error (over outer folds) of the best search score."""
    pool = eligible(trials)
    best = max(pool, key=lambda t: (t.objective, -t.number))
    folds = [f.selection.inner_uf1 for f in best.outcome.folds]
    se = statistics.stdev(folds) / len(folds) ** 0.5
    return min((t for t in pool if t.objective >= best.objective - se), key=lambda t: (t.n_params or 0, t.number))


def nested_estimates(trials: list[StoredTrial], candidates: set[int], search_seed: int, seeds: int) -> dict[str, dict]:
    """Outer scores of the per-fold selection and of the confirmed per-fold selection, the latter
    averaging fold-level inner scores over the search's seed and the first ``seeds`` new ones only
    (the fresh seed stays unread)."""
    averaged = {repetition_seed(search_seed, r) for r in range(seeds)}
    kept = []
    for t in trials:
        folds = {seed: f for seed, f in t.repeat_fold_inner.items() if seed in averaged}
        kept.append(replace(t, confirmed=t.number in candidates, repeat_fold_inner=folds))
    out = {}
    plain, confirmed = per_fold_selection(trials), confirmed_per_fold_selection(kept)
    for estimate in (plain, confirmed):
        out[estimate.name] = {**estimate.scores, "fold_trials": sorted(set(estimate.fold_trials.values()))}
    low, high = paired_subject_bootstrap(
        confirmed.y_true, confirmed.y_pred, plain.y_pred, confirmed.subjects, len(confirmed.classes), 1000
    )["uf1"]
    out["difference"] = {"uf1": confirmed.scores["uf1"] - plain.scores["uf1"], "interval": [low, high]}
    return out


def _repeat(run_dir: Path, cache_dir: Path, number: int, r: int, of: int) -> RepeatRecord:
    repeater = Repeater(run_dir, cache_dir, "cpu", Console(quiet=True), "benchmark")
    trial = next(t for t in repeater.store.trials(repeater.info.study_name) if t.number == number)
    return repeater.repeat(trial, r, of)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a finished run directory (not modified)")
    parser.add_argument("--top", type=int, default=6, help="trials confirmed, by search score (the presets come too)")
    parser.add_argument("--seeds", type=int, default=2, help="new seeds the confirm rule averages (one more is run, as the fresh draw)")
    parser.add_argument("--workers", type=int, default=2, help="evaluations at once (one torch thread each)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/merauto-bench-data"))
    parser.add_argument("--work-dir", type=Path, default=None, help="where the copy of the run lives (kept; reruns reuse its repeats)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="selection-noise-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if not (work / name).exists():
            shutil.copy2(args.run_dir / name, work / name)
    study = load_run(work).study_name
    store = ResultsStore(work)
    trials = store.trials(study)
    candidates = confirm_candidates(trials, args.top)
    frugal = one_se_pick(trials)
    candidates += [frugal] if frugal not in candidates else []
    seeds = args.seeds + 1
    done = {(r.trial, r.seed) for r in store.repeats(study)}
    search_seed = load_run(work).evaluation.seed
    todo = [(t.number, r) for t in candidates for r in range(seeds) if (t.number, repetition_seed(search_seed, r)) not in done]
    print(f"{len(candidates)} candidates x {seeds} seeds: {len(todo)} evaluations to run in {work}", flush=True)
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(_repeat, work, args.cache_dir, n, r, seeds) for n, r in todo]
        for i, future in enumerate(futures, 1):
            record = future.result()
            print(
                f"[{i}/{len(todo)}] trial {record.trial} seed {record.seed}: inner {record.inner_uf1:.3f} outer {record.outer_uf1:.3f}",
                flush=True,
            )

    records: dict[int, list[RepeatRecord]] = {}
    for record in store.repeats(study):
        records.setdefault(record.trial, []).append(record)
    rows = []
    for t in candidates:
        mine = sorted(records[t.number], key=lambda r: r.seed)[:seeds]
        averaged, fresh = mine[:-1], mine[-1]
        rows.append(
            {
                "trial": t.number,
                "preset": t.preset,
                "n_params": t.n_params,
                "search": t.objective,
                "confirm": statistics.fmean([t.objective, *(r.inner_uf1 for r in averaged)]),
                "fresh_inner": fresh.inner_uf1,
                "fresh_outer": fresh.outer_uf1,
                "search_outer": t.outcome.test_scores()["uf1"],
                "mean_outer_new_seeds": statistics.fmean(r.outer_uf1 for r in mine),
            }
        )
    by_trial = {row["trial"]: row for row in rows}
    top = [by_trial[t.number] for t in confirm_candidates(trials, args.top)]  # what confirm chooses among
    rules = {
        "search": max(top, key=lambda row: (row["search"], -row["trial"])),
        "confirm": max(top, key=lambda row: (row["confirm"], -row["trial"])),
        "one-SE": by_trial[frugal.number],
    }
    nested = nested_estimates(store.trials(study), {t.number for t in confirm_candidates(trials, args.top)}, search_seed, args.seeds)
    best_preset = max((row for row in rows if row["preset"]), key=lambda row: row["fresh_inner"], default=None)
    figures = {
        "run": str(args.run_dir),
        "top": args.top,
        "seeds": args.seeds,
        "candidates": rows,
        "rules": {},
        "spearman_with_fresh": {
            "search": spearmanr([r["search"] for r in rows], [r["fresh_inner"] for r in rows]).statistic,
            "confirm": spearmanr([r["confirm"] for r in rows], [r["fresh_inner"] for r in rows]).statistic,
        },
        "mean_drop_to_fresh": {
            "search": statistics.fmean(r["search"] - r["fresh_inner"] for r in rows),
            "confirm": statistics.fmean(r["confirm"] - r["fresh_inner"] for r in rows),
        },
        "best_preset_fresh_inner": best_preset["fresh_inner"] if best_preset else None,
        "nested": nested,
    }
    print("\ntrial  preset        params  search  confirm  fresh-inner  search-outer  fresh-outer")
    for row in sorted(rows, key=lambda row: -row["search"]):
        print(
            f"{row['trial']:5d}  {row['preset'] or '':12s} {row['n_params'] or 0:7d}  {row['search']:.3f}   {row['confirm']:.3f}    "
            f"{row['fresh_inner']:.3f}        {row['search_outer']:.3f}         {row['fresh_outer']:.3f}"
        )
    print()
    for name, row in rules.items():
        score = row["search"] if name != "confirm" else row["confirm"]
        figures["rules"][name] = {**row, "selection_score": score, "drop": score - row["fresh_inner"]}
        print(
            f"{name:8s}: trial {row['trial']} ({row['preset'] or 'sampled'}), selection score {score:.3f}, fresh inner "
            f"{row['fresh_inner']:.3f} (drop {score - row['fresh_inner']:+.3f}), fresh outer {row['fresh_outer']:.3f}"
        )
    s = figures["spearman_with_fresh"]
    d = figures["mean_drop_to_fresh"]
    print(f"Spearman with the fresh inner score over {len(rows)} candidates: search {s['search']:.2f}, confirm {s['confirm']:.2f}")
    print(f"mean drop to the fresh inner score: search {d['search']:+.3f}, confirm {d['confirm']:+.3f}")
    for name in ("per-fold selection", "confirmed per-fold selection"):
        value = nested[name]
        print(f"{name}: outer UF1 {value['uf1']:.3f}, UAR {value['uar']:.3f}, trials {value['fold_trials']} (the search seed's)")
    low, high = nested["difference"]["interval"]
    print(
        f"confirmed - plain per-fold selection: UF1 {nested['difference']['uf1']:+.3f} [{low:+.3f}, {high:+.3f}] (paired subject bootstrap)"
    )
    if best_preset:
        print(f"best preset on the fresh seed: trial {best_preset['trial']} ({best_preset['preset']}) {best_preset['fresh_inner']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float))


if __name__ == "__main__":
    main()
