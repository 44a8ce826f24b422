"""`merauto report`: what a run found, computed once from its stores, and the leaderboard on the terminal
(report.html is written by :mod:`merauto.results.report.html`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from rich.console import Console

from merauto.pipeline.config import PipelineConfig
from merauto.results.audit import Audit, audit_study, candidate_rows, protocol_rows
from merauto.results.ensemble import EnsembleResult, ensemble_rows, ensembles
from merauto.results.integrity import check_integrity
from merauto.results.report.tables import is_wide, print_rows
from merauto.results.run_dir import RunInfo, fold_study_name, load_run
from merauto.results.selection import (
    Estimate,
    confirmed_per_fold_selection,
    eligible,
    global_selection,
    per_fold_selection,
    pool_trials,
    selected_trial,
    strict_selection,
    trial_estimate,
)
from merauto.results.storage import RUNGS_ATTR, open_storage
from merauto.results.store import ResultsStore, StoredTrial, TrialTiming

NESTED_ESTIMATES = ("per-fold selection", "confirmed per-fold selection", "per-fold ensemble", "strict selection")
ROLES = ("nested", "optimistic", "reference")  # the order estimates are listed in
FAILED_SHOWN = 5  # failed trials listed on a narrow console


@dataclass(frozen=True)
class Report:
    """Everything the report shows, computed once."""

    run_dir: Path
    info: RunInfo
    study: optuna.Study | None  # None in strict mode (one study per fold)
    trials: list[StoredTrial]
    estimates: list[Estimate]
    intervals: dict[str, dict[str, tuple[float, float]]]
    fold_trials: dict[int, list[StoredTrial]] | None = None  # strict mode: each fold study's trials
    audit: Audit | None = None  # what each common protocol would report (None in strict mode)
    timings: list[TrialTiming] = field(default_factory=list)  # each trial's predicted and measured training time
    ensembles: list[EnsembleResult] = field(default_factory=list)  # per-fold and global ensembles of the trials

    def estimate(self, name: str) -> Estimate | None:
        """The estimate called ``name``, if the run has one."""
        return next((e for e in self.estimates if e.name == name), None)


def build_report(run_dir: Path) -> Report:
    """Read the run's study (or fold studies) and results store and compute the selections."""
    info = load_run(run_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = ResultsStore(run_dir)
    if info.strict:
        fold_trials = strict_fold_trials(store, info)
        trials = [t for ts in fold_trials.values() for t in ts]
        estimates = [e for e in [strict_selection(fold_trials), *_strict_presets(fold_trials)] if e is not None]
        report = Report(Path(run_dir), info, None, trials, estimates, {e.name: e.intervals() for e in estimates}, fold_trials)
        _store_estimates(store, report)
        return report
    study = optuna.load_study(study_name=info.study_name, storage=open_storage(info.storage_url))
    trials = store.trials(info.study_name)
    selections = (global_selection(trials), per_fold_selection(trials), confirmed_per_fold_selection(trials))
    estimates = [e for e in selections if e is not None]
    found = ensembles(trials)
    estimates += [e.estimate for e in found]
    for trial in eligible(trials):
        if trial.preset:
            estimates.append(trial_estimate(trial, f"preset {trial.preset}", f"trial {trial.number}, reference row (not a selection)"))
    intervals = {e.name: e.intervals() for e in estimates}
    timings = store.timings(info.study_name)
    report = Report(Path(run_dir), info, study, trials, estimates, intervals, audit=audit_study(trials), timings=timings, ensembles=found)
    _store_estimates(store, report)
    return report


def strict_fold_trials(store: ResultsStore, info: RunInfo) -> dict[int, list[StoredTrial]]:
    """A strict run's trials by outer fold: each fold study's stored trials."""
    prefix = fold_study_name(info.study_name, 0)[:-3]
    return {int(n[len(prefix) :]): store.trials(n) for n in store.study_names() if n.startswith(prefix)}


def _store_estimates(store: ResultsStore, report: Report) -> None:
    """Label every final estimate in the results store, next to the trials it pools."""
    for e in report.estimates:
        scores = {**e.scores, "ci95": report.intervals[e.name], "by_source": {k: v["uf1"] for k, v in e.by_source.items()}}
        store.record_selection(report.info.study_name, e.name, e.description, e.fold_members or e.fold_trials, scores)


def _strict_presets(fold_trials: dict[int, list[StoredTrial]]) -> list[Estimate]:
    """Each preset as a reference row: its trial in every fold study, pooled."""
    names = sorted({t.preset for ts in fold_trials.values() for t in ts if t.preset and t.state == "complete"})
    estimates = []
    for name in names:
        chosen = {
            k: next(t for t in ts if t.preset == name and t.state == "complete")
            for k, ts in fold_trials.items()
            if any(t.preset == name and t.state == "complete" for t in ts)
        }
        estimates.append(pool_trials(f"preset {name}", "its trial in every fold study (reference row, not a selection)", chosen))
    return estimates


def fold_rows(report: Report, short: bool = False) -> list[dict[str, str]]:
    """Strict mode: each fold study's best trial; ``short``: its pipeline in a few words (:func:`pipeline_line`), not its config."""
    key = "pipeline" if short else "config"
    rows = []
    for fold, trials in sorted((report.fold_trials or {}).items()):
        complete = [t for t in trials if t.state == "complete"]
        if not complete:
            rows.append({"fold": str(fold), "test": "", "trials": str(len(trials)), "best": "-", "inner UF1": "-", key: ""})
            continue
        best = max(complete, key=lambda t: (t.objective, -t.number))
        test = best.outcome.folds[0].test.test_group
        config = pipeline_line(best) if short else best.config.summary() if best.config else ""
        rows.append(
            {
                "fold": str(fold),
                "test": test,
                "trials": str(len(trials)),
                "best": str(best.number),
                "inner UF1": _fmt(best.objective),
                key: config,
            }
        )
    return rows


def pipeline_line(trial: StoredTrial) -> str:
    """A trial's pipeline in a few words for one leaderboard line: its preset's name, or its input,
    topology x block, optimiser with learning rate, and epoch limit (the full config: ``config.summary()``)."""
    if trial.preset:
        return f"preset {trial.preset}"
    if trial.config is None:
        return ""
    return _pipeline_words(trial.config)


def _pipeline_words(config: PipelineConfig) -> str:
    """Input · topology×block · optimiser and learning rate · epoch limit."""
    t = config.training
    return f"{config.input.name} · {config.topology.name}×{config.block.name} · {t.optimiser} lr {_scientific(t.lr)} · {t.max_epochs} ep"


def _scientific(value: float) -> str:
    """``value`` to two significant digits in short scientific notation: 0.0015 -> 1.5e-3, 0.001 -> 1e-3."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def prediction_errors(timings: list[TrialTiming]) -> list[float]:
    """|predicted/measured - 1| of each trial's training time (a trial pruned after a rung: for the folds it trained)."""
    return [abs(t.predicted_s * t.work_fraction / t.train_s - 1) for t in timings if t.train_s and t.work_fraction > 0]


def cost_line(timings: list[TrialTiming]) -> str:
    """The cost model's accuracy on this run, in words (empty before a trial trained)."""
    errors = prediction_errors(timings)
    if not errors:
        return ""
    skipped = sum(t.train_s is None for t in timings)
    return (
        f"cost model: predicted training time within {np.median(errors):.0%} of the measured one for the median trial, "
        f"{np.percentile(errors, 90):.0%} at the 90th percentile ({len(errors)} trials, each predicted before it trained)"
        + (f"; {skipped} not trained, predicted over --max-trial-seconds" if skipped else "")
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def leaderboard_records(trials: list[StoredTrial]) -> list[dict[str, Any]]:
    """The leaderboard as numbers: completed trials by objective (best first, ``rank`` 1...), then
    pruned and failed ones (``rank`` None); ``note`` says why a trial was pruned or how it failed."""
    complete = sorted((t for t in trials if t.state == "complete"), key=lambda t: (-t.objective, t.number))
    others = [t for t in trials if t.state in ("pruned", "failed")]
    records = []
    for rank, t in enumerate([*complete, *others], start=1):  # ranks only the completed trials, which come first
        inner = t.outcome.inner_scores() if t.outcome else {"uf1": None, "uar": None}
        outer = t.outcome.test_scores() if t.state == "complete" else {"uf1": None, "uar": None}
        note = ""
        if t.state == "pruned":
            note = f"stopped after {len(t.outcome.folds)} folds" if t.outcome else f"not trained: {t.error}"
        elif t.state == "failed":
            note = t.error or ""
        records.append(
            {
                "rank": rank if t.state == "complete" else None,
                "trial": t.number,
                "state": t.state,
                "preset": t.preset,
                "inner_uf1": inner["uf1"],
                "inner_uar": inner["uar"],
                "outer_uf1": outer["uf1"],
                "outer_uar": outer["uar"],
                "n_params": t.n_params if t.state != "failed" else None,
                "seconds": t.seconds if t.state != "failed" else None,
                "config": t.config.summary() if t.config else "",
                "note": note,
            }
        )
    return records


def leaderboard_rows(report: Report, short: bool = False) -> list[dict[str, str]]:
    """Completed trials by objective (best first), then pruned and failed ones, as text (:func:`leaderboard_records`);
    ``short``: a ``pipeline`` column of a few words (:func:`pipeline_line`) instead of the ``config`` one."""
    trials = {t.number: t for t in report.trials}
    rows = []
    for r in leaderboard_records(report.trials):
        described = {"pipeline": pipeline_line(trials[r["trial"]])} if short else {"config": _config_text(r)}
        rows.append(
            {
                "rank": str(r["rank"]) if r["state"] == "complete" else r["state"],
                "trial": str(r["trial"]),
                "preset": r["preset"] or "",
                "inner UF1": _fmt(r["inner_uf1"]),
                "inner UAR": _fmt(r["inner_uar"]),
                "outer UF1": _fmt(r["outer_uf1"]),
                "outer UAR": _fmt(r["outer_uar"]),
                "params": str(r["n_params"] or ""),
                "seconds": f"{r['seconds']:.0f}" if r["seconds"] else "",
                **described,
            }
        )
    return rows


def _config_text(record: dict[str, Any]) -> str:
    """A leaderboard record's config, after why it was pruned; a failed trial's error instead."""
    if record["state"] == "pruned":
        return f"{record['note']} | {record['config']}"
    if record["state"] == "failed":
        return record["note"][:120]
    return record["config"]


def repeat_rows(report: Report) -> list[dict[str, str]]:
    """Trials rerun over new seeds (``merauto repeat`` or ``confirm``): the search's seed beside the new seeds' mean and spread."""
    by_trial: dict[int, list] = {}
    for record in ResultsStore(report.run_dir).repeats(report.info.study_name):
        by_trial.setdefault(record.trial, []).append(record)
    trials = {t.number: t for t in report.trials}
    chosen = selected_trial(report.trials)
    rows = []
    for number, records in sorted(by_trial.items()):

        def stat(field: str, rs: list = records) -> str:
            values = np.array([getattr(r, field) for r in rs])
            return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}"

        trial = trials[number]
        roles = ["selected"] if chosen is not None and chosen.number == number else []
        roles += [f"preset {trial.preset}"] if trial.preset else []
        roles += ["confirmed"] if trial.confirmed else []
        search_outer = trial.outcome.test_scores()["uf1"] if trial.outcome else None
        rows.append(
            {
                "trial": str(number),
                "role": ", ".join(roles),
                "search inner UF1": _fmt(trial.objective),
                "new seeds": str(len(records)),
                "inner UF1": stat("inner_uf1"),
                "search outer UF1": _fmt(search_outer),
                "outer UF1": stat("outer_uf1"),
                "outer UAR": stat("outer_uar"),
                "accuracy": stat("outer_accuracy"),
            }
        )
    return rows


def estimate_role(e: Estimate) -> str:
    """Which :data:`ROLES` an estimate plays: nested (each fold's choice read that fold's inner scores only),
    optimistic (chosen on every fold's inner scores), or reference (a preset, not a selection)."""
    if e.name in NESTED_ESTIMATES:
        return ROLES[0]
    return ROLES[2] if e.name.startswith("preset ") else ROLES[1]


def estimate_rows(report: Report) -> list[dict[str, str]]:
    """One row per final estimate, the nested ones first: its role, outer scores with their subject-bootstrap
    intervals, per source, and how it chose."""
    rows = []
    for e in sorted(report.estimates, key=lambda e: ROLES.index(estimate_role(e))):
        s, ci = e.scores, report.intervals[e.name]
        sources = ", ".join(f"{k} {v['uf1']:.3f}" for k, v in e.by_source.items())
        rows.append(
            {
                "estimate": e.name,
                "role": estimate_role(e),
                "UF1 [95% CI]": f"{s['uf1']:.3f} [{ci['uf1'][0]:.3f}, {ci['uf1'][1]:.3f}]",
                "UAR [95% CI]": f"{s['uar']:.3f} [{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}]",
                "accuracy": f"{s['accuracy']:.3f}",
                "UF1 per source": sources,
                "how": e.description,
            }
        )
    return rows


def protocol_line(report: Report) -> str:
    """The protocol the run followed, in one paragraph."""
    ev = report.info.evaluation
    outer = str(ev.outer).upper() if ev.outer.subject_independent else "LOVO (NOT subject-independent)"
    pruning = ""
    if report.info.pruning != "none":
        rungs = report.study.user_attrs.get(RUNGS_ATTR, []) if report.study is not None else []
        sizes = "/".join(str(len(r)) for r in rungs)
        pruning = ", multi-fidelity off (too few folds)"
        if len(rungs) > 1:
            pruning = f", multi-fidelity {report.info.pruning} over rungs of {sizes} folds"
    pruning += ", strict: an independent study per outer fold" if report.info.strict else ""
    return (
        f"study {report.info.study_name!r} on {report.info.dataset.label()}: outer {outer}, inner {ev.inner}, "
        f"{'refit on all training subjects' if ev.refit else 'inner models predict the test rows'}, seed {ev.seed}{pruning}. "
        "Optuna saw inner-validation UF1 only; outer scores never informed a choice."
    )


def trial_counts(trials: list[StoredTrial]) -> str:
    """What became of the proposals, in words: trained to the end, stopped after a rung of folds
    (racing or ASHA), not trained for their predicted cost (refused proposals), failed."""
    complete = sum(t.state == "complete" for t in trials)
    stopped = [len(t.outcome.folds) for t in trials if t.state == "pruned" and t.outcome is not None]
    refused = sum(t.state == "pruned" and t.outcome is None for t in trials)
    parts = [f"{complete} trained on every fold"]
    if stopped:
        parts.append(f"{len(stopped)} stopped early after {'/'.join(str(k) for k in sorted(set(stopped)))} folds")
    if refused:
        parts.append(f"{refused} proposals not trained (predicted over the trial limit; not counted against --budget)")
    parts.append(f"{sum(t.state == 'failed' for t in trials)} failed")
    return ", ".join(parts)


def preset_verdict(trials: list[StoredTrial]) -> str | None:
    """When the selection is a literature preset, say so, and how far the best sampled pipeline
    trails it on inner-validation UF1 (``None`` when a sampled pipeline was selected)."""
    chosen = selected_trial(trials)
    if chosen is None or not chosen.preset:
        return None
    sampled = [t for t in eligible(trials) if not t.preset]
    if not sampled:
        return f"the selection is the literature preset {chosen.preset} (trial {chosen.number}): no sampled pipeline finished"
    best = max(sampled, key=lambda t: (t.objective, -t.number))
    return (
        f"the selection is the literature preset {chosen.preset} (trial {chosen.number}, inner UF1 {chosen.objective:.3f}): "
        f"the search found nothing better; its best sampled pipeline (trial {best.number}) trails it by "
        f"{chosen.objective - best.objective:.3f} inner UF1"
    )


ESTIMATES_TITLE = (
    "outer-test estimates (pooled over all test subjects): report the nested one, where each fold chose on its own inner scores"
)


def print_report(report: Report, console: Console, top: int = 10) -> None:
    """The estimates (nested first), the leaderboard and the rest of the report, on the terminal: in full on a
    wide terminal, one line per row when piped or narrow (:func:`merauto.results.report.tables.is_wide`)."""
    wide = is_wide(console)
    console.print(protocol_line(report), highlight=False)
    console.print(f"trials: {trial_counts(report.trials)}", highlight=False)
    _print_estimates(report, console, wide)
    if report.fold_trials is not None:
        _print_strict(report, console, wide)
        return
    verdict = preset_verdict(report.trials)
    if verdict is not None:
        console.print(f"[bold]{verdict}[/]", highlight=False)
    _print_leaderboard(report, console, top, wide)
    _print_failed(report.trials, console, wide)
    if cost_line(report.timings):
        console.print(cost_line(report.timings), highlight=False)
    integrity = check_integrity(report.study, report.trials) if report.study is not None else None
    if integrity is not None and not integrity.ok:
        console.print(f"[bold yellow]warning:[/] the study and the results store disagree: {integrity.describe()}", highlight=False)
    _print_ensembles(report, console, wide)
    print_rows(
        console,
        "trials rerun over new seeds (merauto repeat / confirm): the search's seed, then the new seeds' mean ± sd",
        repeat_rows(report),
        drop=("accuracy", "outer UAR", "search inner UF1", "inner UF1", "new seeds"),
        fill="role",
    )
    _print_audit(report, console, wide)


def _print_strict(report: Report, console: Console, wide: bool) -> None:
    """Strict mode: each fold study's best trial, with its full config on a wide terminal (folded in its cell)."""
    title = "strict mode: the best trial of each fold's own study"
    if wide:
        print_rows(console, title, fold_rows(report), fill="config")
    else:
        print_rows(console, title, fold_rows(report, short=True), fill="pipeline", fill_overflow="ellipsis")


def _print_estimates(report: Report, console: Console, wide: bool) -> None:
    """The estimates table, the nested estimate on its first row; on a wide terminal, how each chose below it."""
    rows = estimate_rows(report)
    columns = ("estimate", "role", "UF1 [95% CI]", "UAR [95% CI]", "accuracy", "UF1 per source")
    print_rows(console, ESTIMATES_TITLE, rows, columns, drop=("UF1 per source", "accuracy", "UAR [95% CI]"))
    for row in rows if wide else []:
        console.print(f"  {row['estimate']}: {row['how']}", highlight=False)


def _print_leaderboard(report: Report, console: Console, top: int, wide: bool) -> None:
    """The best ``top`` completed trials, one line each; then their full configs on a wide terminal, elsewhere where to find them."""
    rows = [r for r in leaderboard_rows(report, short=True) if r["rank"] not in ("failed", "pruned")][:top]
    n = {state: sum(t.state == state for t in report.trials) for state in ("complete", "pruned", "failed")}
    title = f"leaderboard: {n['complete']} complete, {n['pruned']} pruned, {n['failed']} failed (best {len(rows)} shown, --top)"
    if not rows:
        console.print(title, highlight=False)
        return
    columns = ("rank", "trial", "inner UF1", "inner UAR", "outer UF1", "outer UAR", "pipeline")
    print_rows(console, title, rows, columns, drop=("inner UAR", "outer UAR", "rank"), fill="pipeline", fill_overflow="ellipsis")
    if not wide:
        console.print(f"full configs: report.html, and merauto dashboard {report.run_dir}", highlight=False)
        return
    configs = {t.number: t.config for t in report.trials}
    console.print("full configs:", highlight=False)
    for number in (int(r["trial"]) for r in rows if configs[int(r["trial"])] is not None):
        console.print(f"  trial {number}: {configs[number].summary()}", highlight=False)


def _print_failed(trials: list[StoredTrial], console: Console, wide: bool) -> None:
    """Each failed trial and its error, on one line each (the first :data:`FAILED_SHOWN` unless the terminal is wide)."""
    failed = [t for t in trials if t.state == "failed"]
    shown = failed if wide else failed[:FAILED_SHOWN]
    for t in shown:
        console.print(f"trial {t.number} failed: {(t.error or '')[:120]}", highlight=False, no_wrap=not wide, overflow="ellipsis")
    if len(failed) > len(shown):
        console.print(f"... and {len(failed) - len(shown)} more failed trials (report.html lists each with its error)", highlight=False)


def _print_ensembles(report: Report, console: Console, wide: bool) -> None:
    """The ensembles against the best single trial; on a wide terminal their members below, elsewhere where to find them."""
    if not report.ensembles:
        return
    rows = ensemble_rows(report.ensembles)
    title = "ensembles of the search's trials against the best single trial (pooled over all test subjects; Δ: paired subject bootstrap)"
    drop = ("UF1 per source", "UAR [95% CI]", "Δ UAR [95% CI]", "best single")
    print_rows(console, title, rows, [c for c in rows[0] if c != "members"], drop=drop)
    if not wide:
        console.print(f"members and how each ensemble chose: merauto ensemble {report.run_dir}", highlight=False)
        return
    for result, row in zip(report.ensembles, rows, strict=True):
        console.print(f"  {result.estimate.name}: {result.estimate.description}; members: {row['members']}", highlight=False)


def _print_audit(report: Report, console: Console, wide: bool) -> None:
    """What each common protocol would report (the ones the stored results allow); on a wide terminal how each
    chose and each candidate under the epoch-level shortcuts, elsewhere where to find them."""
    if report.audit is None:
        return
    rows = protocol_rows(report.audit)
    computed = [r for r in rows if r["UF1"] != "-"]
    sources = [c for c in computed[0] if c.startswith("UF1 ")]
    columns = ("protocol", "UF1", "ΔUF1 vs nested [95% CI]", "UAR", "ΔUAR vs nested [95% CI]", *sources)
    title = "what each protocol would report (pooled over all test subjects; Δ: against the nested estimate, paired subject bootstrap)"
    print_rows(console, title, computed, columns, drop=(*reversed(sources), "ΔUAR vs nested [95% CI]", "UAR"))
    reasons: dict[str, list[str]] = {}
    for r in rows:
        if r["UF1"] == "-":
            reasons.setdefault(r["how"], []).append(r["protocol"])
    for how, names in reasons.items():
        console.print(f"{', '.join(names)}: not computed ({how})", highlight=False)
    if not wide:
        console.print(f"how each chose, and each candidate under it: merauto audit {report.run_dir}", highlight=False)
        return
    for r in computed:
        console.print(f"  {r['protocol']}: {r['how']}", highlight=False)
    candidates = "per candidate: honest UF1 vs epoch-level shortcuts"
    print_rows(console, candidates, candidate_rows(report.audit), drop=("last epoch UF1", "best test epoch UF1"))
