"""Plant one-line leaks, one at a time, and show that the test suite catches each.

Each mutation below is a realistic slip at a place where a number becomes a choice: a test score
handed to Optuna, a pruner, a warm start, a repetition's record, a selection, an ensemble, an
export, a spotting threshold or objective, or the model that predicts a test subject. For each, the
package and its tests are copied into a temporary folder, the one line is replaced there (never
here), and the tests that guard that place are run against the copy (the Ray workers of its
searches import the copy too). A mutation the tests do not fail on is an escaped leak: the tool
exits 1.

    python benchmarks/leak_mutations.py              # every mutation, its guarding tests (about 15-25 min on 2 cores)
    python benchmarks/leak_mutations.py --list       # the mutations and where they are planted
    python benchmarks/leak_mutations.py --only racing-leader-by-test --only warm-start-outer-values
    python benchmarks/leak_mutations.py --all-leak-tests   # run every leakage test file for each mutation

A mutation whose line no longer exists is reported as stale (exit 2): the code moved, so update the
mutation rather than lose the check. Every new place where a number becomes a choice adds a mutation.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RACE_MODULE, SELECTION, SCHEMES = (f"tests/test_handovers_{name}.py::" for name in ("race", "selection", "schemes"))
LEAK_TESTS = (
    "tests/test_leakage.py",
    "tests/test_handovers_race.py",
    "tests/test_handovers_selection.py",
    "tests/test_handovers_schemes.py",
    "tests/test_spotting.py",
    "tests/test_local_sampler.py",
)

RACE = RACE_MODULE + "test_racing_and_a_resumed_race_receive_nothing_of_a_test_subject"
SELECTED = (
    SELECTION + "test_confirm_repeat_ensembles_and_export_receive_nothing_of_a_test_subject",
    SELECTION + "test_the_selections_are_the_best_inner_scores",
)
ASHA = SCHEMES + "test_every_scheme_hands_over_nothing_of_a_test_subject[asha]"
STRICT = SCHEMES + "test_every_scheme_hands_over_nothing_of_a_test_subject[strict]"
WARM = SELECTION + "test_a_warm_start_hands_the_sampler_inner_scores_only"
LABELS_NO_REFIT = SCHEMES + "test_test_predictions_never_read_test_labels[no-refit]"
LABELS_AUDIT = SCHEMES + "test_test_predictions_never_read_test_labels[audit]"
SPOT = RACE_MODULE + "test_the_spotting_search_receives_nothing_of_a_test_subject"
SPOT_SELECTIONS = (SPOT, "tests/test_spotting.py::test_the_spotting_selections_read_inner_scores_only")
LOCAL = (
    SCHEMES + "test_every_scheme_hands_over_nothing_of_a_test_subject[local-refusals]",
    "tests/test_local_sampler.py::test_the_incumbent_is_the_best_objective_and_half_the_trials_mutate_it",
)
EVALUATOR = "tests/test_leakage.py"

TEST_UF1 = 'outcome.test_scores()["uf1"]'
FOLD_TEST_UF1 = 'TrialOutcome(outcome.classes, [f]).test_scores()["uf1"]'


@dataclass(frozen=True)
class Mutation:
    """``old`` (one line, stripped, found exactly once in ``path``) replaced by ``new``; ``tests`` guard it."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "local-sampler-incumbent-by-test",
        "merauto/orchestrator/local_sampler.py",
        "return max(complete, key=lambda t: (sign * t.values[0], -t.number))",
        'return max(complete, key=lambda t: (t.user_attrs.get("outer_uf1", 0.0), -t.number))',
        LOCAL,
    ),
    Mutation(
        "objective-is-test-uf1",
        "merauto/orchestrator/trainable.py",
        "OBJECTIVE: outcome.objective(),",
        f"OBJECTIVE: {TEST_UF1},",
        (RACE,),
    ),
    Mutation(
        "intermediate-value-is-test-uf1",
        "merauto/orchestrator/trainable.py",
        'report(result("running", rung, so_far, time.perf_counter() - training_started))',
        'report({**result("running", rung, so_far, time.perf_counter() - training_started), OBJECTIVE: so_far.test_scores()["uf1"]})',
        (RACE,),
    ),
    Mutation(
        "rung-fold-scores-from-test",
        "merauto/orchestrator/trainable.py",
        "FOLD_SCORES: outcome.fold_inner_uf1(),",
        f"FOLD_SCORES: [{FOLD_TEST_UF1} for f in sorted(outcome.folds, key=lambda f: f.selection.fold)],",
        (RACE,),
    ),
    Mutation(
        "racing-leader-by-test",
        "merauto/orchestrator/schedulers.py",
        "rung, score, scores = result[RUNG], result[OBJECTIVE], list(result[FOLD_SCORES])",
        'rung, score, scores = result[RUNG], TrialOutcome.from_json(__import__("json").loads(result["outcome_json"]))'
        '.test_scores()["uf1"], list(result[FOLD_SCORES])',
        (RACE,),
    ),
    Mutation(
        "resumed-race-leader-by-test",
        "merauto/orchestrator/schedulers.py",
        "score = on_rung.objective()",
        'score = on_rung.test_scores()["uf1"]',
        (RACE,),
    ),
    Mutation(
        "asha-rung-value-from-test",
        "merauto/orchestrator/schedulers.py",
        "decision = super().on_trial_result(tune_controller, trial, self._scaled(result))",
        "decision = super().on_trial_result(tune_controller, trial, self._scaled({**result, OBJECTIVE: "
        'TrialOutcome.from_json(__import__("json").loads(result["outcome_json"])).test_scores()["uf1"]}))',
        (ASHA,),
    ),
    Mutation(
        "optuna-told-test-uf1",
        "merauto/orchestrator/searcher.py",
        'super().on_trial_complete(trial_id, result if state == "complete" else None, error=False)',
        f'super().on_trial_complete(trial_id, {{**result, OBJECTIVE: {TEST_UF1}}} if state == "complete" else None, error=False)',
        (SELECTED[0],),
    ),
    Mutation(
        "optuna-intermediate-from-test",
        "merauto/orchestrator/searcher.py",
        "super().on_trial_result(trial_id, result)",
        "super().on_trial_result(trial_id, {**result, OBJECTIVE: TrialOutcome.from_json(json.loads(result"
        '["outcome_json"])).test_scores()["uf1"]} if "outcome_json" in result else result)',
        (RACE,),
    ),
    Mutation(
        "sampler-attribute-from-test",
        "merauto/orchestrator/searcher.py",
        '"inner_uar": round(inner["uar"], 4),',
        '"inner_uar": round(test["uar"], 4),',
        (SELECTED[0],),
    ),
    Mutation(
        "warm-start-outer-values",
        "merauto/orchestrator/warm_start.py",
        "return info.study_name, trials",
        "return info.study_name, [optuna.trial.FrozenTrial(t.number, t.state, t.user_attrs.get('outer_uf1') if t.values else None, "
        "t.datetime_start, t.datetime_complete, t.params, t.distributions, t.user_attrs, t.system_attrs, t.intermediate_values, "
        "t._trial_id) for t in trials]",
        (WARM,),
    ),
    Mutation(
        "repeat-records-outer-as-inner",
        "merauto/results/repeat.py",
        'record = RepeatRecord(trial.number, seed, outcome.objective(), test["uf1"], test["uar"], test["accuracy"])',
        'record = RepeatRecord(trial.number, seed, test["uf1"], test["uf1"], test["uar"], test["accuracy"])',
        (SELECTED[0],),
    ),
    Mutation(
        "repeat-fold-scores-from-test",
        "merauto/results/repeat.py",
        "self.store.record_repeat(self.info.study_name, record, {f.selection.fold: f.selection.inner_uf1 for f in outcome.folds})",
        f"self.store.record_repeat(self.info.study_name, record, {{f.selection.fold: {FOLD_TEST_UF1} for f in outcome.folds}})",
        (SELECTED[0],),
    ),
    Mutation(
        "confirm-candidates-by-test",
        "merauto/results/confirm.py",
        "best = sorted(pool, key=lambda t: (-t.objective, t.number))[:top]",
        'best = sorted(pool, key=lambda t: (-t.outcome.test_scores()["uf1"], t.number))[:top]',
        SELECTED,
    ),
    Mutation(
        "global-selection-by-test",
        "merauto/results/selection.py",
        "return max(pool, key=lambda t: (t.objective, -t.number)) if pool else None",
        'return max(pool, key=lambda t: (t.outcome.test_scores()["uf1"], -t.number)) if pool else None',
        (STRICT, *SELECTED),
    ),
    Mutation(
        "per-fold-selection-by-test",
        "merauto/results/selection.py",
        "inner = {t.number: {f.selection.fold: f.selection.inner_uf1 for f in t.outcome.folds} for t in pool}",
        "inner = {t.number: {f.selection.fold: float(np.mean(np.array(f.test.y_true) == np.array(f.test.y_pred))) "
        "for f in t.outcome.folds} for t in pool}",
        SELECTED,
    ),
    Mutation(
        "confirmed-fold-score-from-test",
        "merauto/results/store.py",
        "search = next(f.selection.inner_uf1 for f in self.outcome.folds if f.selection.fold == fold)",
        "search = next(sum(a == b for a, b in zip(f.test.y_true, f.test.y_pred)) / len(f.test.y_true) for f in self.outcome.folds "
        "if f.selection.fold == fold)",
        SELECTED,
    ),
    Mutation(
        "strict-selection-by-test",
        "merauto/results/selection.py",
        "chosen = {fold: best for fold, trials in sorted(fold_trials.items()) if (best := selected_trial(trials)) is not None}",
        "chosen = {fold: best for fold, trials in sorted(fold_trials.items()) if (best := max(eligible(trials), "
        'key=lambda t: t.outcome.test_scores()["uf1"], default=None)) is not None}',
        (STRICT,),
    ),
    Mutation(
        "ensemble-picked-on-test",
        "merauto/results/ensemble.py",
        "picks = greedy_selection(probs, np.asarray(selections[0].inner_true), len(pool[0].outcome.classes), size)",
        "picks = greedy_selection([np.asarray(next(f.test for f in t.outcome.folds if f.test.fold == fold).probs, float) "
        "for t in aligned], np.asarray(next(f.test for f in aligned[0].outcome.folds if f.test.fold == fold).y_true), "
        "len(pool[0].outcome.classes), size)",
        (SELECTED[0],),
    ),
    Mutation(
        "export-epochs-from-test",
        "merauto/results/export/pipeline.py",
        "epochs = max(1, int(np.median([f.selection.best_epoch for f in chosen.outcome.folds])))",
        "epochs = max(1, int(np.median([f.selection.best_epoch for f in chosen.outcome.folds])) "
        "+ int(chosen.outcome.test_scores()['uf1'] > 0.3))",
        (SELECTED[0],),
    ),
    Mutation(
        "no-refit-predicts-with-the-best-member-on-test",
        "merauto/evaluator/nested.py",
        "probs.append(np.mean(each, axis=0))",
        "probs.append(max(each, key=lambda p: float(np.mean(p.argmax(1) == data.labels[plan.fold.test]))))",
        (LABELS_NO_REFIT,),
    ),
    Mutation(
        "best-test-epoch-predicts",
        "merauto/evaluator/nested.py",
        "y_pred=probs.argmax(1).tolist(),",
        "y_pred=curve[int(np.argmax([np.mean(np.array(c) == data.labels[test]) for c in curve]))] if curve else probs.argmax(1).tolist(),",
        (LABELS_AUDIT,),
    ),
    Mutation(
        "refit-trains-on-the-test-subject",
        "merauto/evaluator/nested.py",
        "refits = [Member(plan.fold.train, fold_seeds(settings.seed, plan.index)[2]) for plan in plans]",
        "refits = [Member(np.concatenate([plan.fold.train, plan.fold.test]), fold_seeds(settings.seed, plan.index)[2]) for plan in plans]",
        (LABELS_AUDIT,),
    ),
    Mutation(
        "inner-validation-includes-test-rows",
        "merauto/evaluator/nested.py",
        "plans.append(_FoldPlan(index, fold, ids, [rows[va] for _, va in splits]))",
        "plans.append(_FoldPlan(index, fold, ids, [np.concatenate([rows[va], fold.test]) for _, va in splits]))",
        (EVALUATOR, RACE),
    ),
    Mutation(
        "normalisation-fitted-on-every-row",
        "merauto/evaluator/engine.py",
        "self.standardisers = [Standardiser.fit(inputs, m.rows) for m in self.members]",
        "self.standardisers = [Standardiser.fit(inputs, np.arange(len(labels))) for m in self.members]",
        (EVALUATOR, RACE),
    ),
    Mutation(
        "spotting-objective-is-test-f1",
        "merauto/evaluator/spotting.py",
        'return self.inner()["overall"].f1',
        'return self.test()["overall"].f1',
        (SPOT,),
    ),
    Mutation(
        "spotting-thresholds-see-the-test-subject",
        "merauto/evaluator/spotting.py",
        "thresholds = choose_thresholds(train)",
        "thresholds = choose_thresholds(train + test)",
        (SPOT,),
    ),
    Mutation(
        "spotting-search-told-test-f1",
        "merauto/orchestrator/spot_search.py",
        "study.tell(trial, outcome.objective())",
        'study.tell(trial, outcome.test()["overall"].f1)',
        (SPOT,),
    ),
    Mutation(
        "spotting-fold-score-from-test",
        "merauto/results/spotting/store.py",
        'return SpotCounts(**fold["inner"]["overall"]).f1',
        'return SpotCounts(**fold["test"]["overall"]).f1',
        (SPOT,),
    ),
    Mutation(
        "spotting-per-fold-choice-by-test",
        "merauto/results/spotting/report.py",
        "return {s: max(trials, key=lambda t, s=s: (t.inner_f1(s), -t.number)) for s in subjects}",
        'return {s: max(trials, key=lambda t, s=s: (_fold_test(t, s, "overall").f1, -t.number)) for s in subjects}',
        SPOT_SELECTIONS,
    ),
    Mutation(
        "spotting-global-selection-by-test",
        "merauto/results/spotting/report.py",
        "best = max(trials, key=lambda t: (t.objective, -t.number))",
        "best = max(trials, key=lambda t: (sum(t.test_by_subject().values(), SpotCounts()).f1, -t.number))",
        SPOT_SELECTIONS,
    ),
)


@dataclass(frozen=True)
class Outcome:
    """What the guarding tests did with one mutation."""

    mutation: Mutation
    caught_by: list[str]
    seconds: float
    error: str = ""
    why: str = ""  # the first assertion message of the failure

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


def planted(mutation: Mutation, folder: Path) -> None:
    """Copy the package and tests into ``folder`` and plant ``mutation`` there."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("merauto", "tests", "benchmarks"):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", folder / "pyproject.toml")
    path = folder / mutation.path
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == mutation.old]
    if len(hits) != 1:
        raise LookupError(f"{mutation.name}: {mutation.path} holds the line {len(hits)} times, not once: update the mutation")
    line = lines[hits[0]]
    lines[hits[0]] = line[: len(line) - len(line.lstrip())] + mutation.new + "\n"
    path.write_text("".join(lines))


def run_tests(mutation: Mutation, tests: tuple[str, ...], timeout_s: float) -> Outcome:
    """Run ``tests`` against a copy with ``mutation`` planted; the tests that failed are the ones that caught it."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="merauto-mutant-") as tmp:
        folder = Path(tmp)
        planted(mutation, folder)
        env = {**__import__("os").environ, "PYTHONPATH": str(folder)}  # Ray's workers import the copy too
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
        try:
            done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return Outcome(mutation, [], time.perf_counter() - started, f"timed out after {timeout_s:.0f} s")
    output = done.stdout + done.stderr
    failed = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)))
    error = "" if failed or done.returncode == 0 else f"pytest exited {done.returncode}: {output[-500:]}"
    reasons = re.findall(r"^E\s+(\S.*)$", output, re.MULTILINE)
    return Outcome(mutation, failed, time.perf_counter() - started, error, reasons[0][:120] if reasons else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run this mutation (repeatable)")
    parser.add_argument("--all-leak-tests", action="store_true", help=f"run {', '.join(LEAK_TESTS)} for every mutation")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to one mutation's tests (default 1800)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s) {', '.join(sorted(unknown))}; --list shows them")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name}\t{m.path}\t{m.old}")
        return 0
    print("| mutation | planted in | caught by | first failure | seconds |\n|---|---|---|---|---:|", flush=True)
    outcomes = []
    for mutation in chosen:
        try:
            outcome = run_tests(mutation, LEAK_TESTS if args.all_leak_tests else mutation.tests, args.timeout)
        except LookupError as exc:
            print(f"| {mutation.name} | {mutation.path} | STALE: {exc} | | |", flush=True)
            return 2
        outcomes.append(outcome)
        names = [t.replace("tests/", "") for t in outcome.caught_by]
        shown = names if len(names) <= 3 else [*names[:2], f"and {len(names) - 2} more"]
        caught = "<br>".join(shown) or f"**ESCAPED** {outcome.error}".strip()
        why = outcome.why.replace("|", "\\|")
        print(f"| {mutation.name} | {mutation.path} | {caught} | `{why}` | {outcome.seconds:.0f} |", flush=True)
    escaped = [o.mutation.name for o in outcomes if not o.caught]
    print(f"\n{len(outcomes) - len(escaped)} of {len(outcomes)} planted leaks caught", end="")
    print(f"; escaped: {', '.join(escaped)}" if escaped else "")
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
