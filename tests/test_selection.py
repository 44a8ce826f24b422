"""Global and per-fold selection read inner-validation scores only and pool the chosen test predictions."""

from __future__ import annotations

from pathlib import Path

from merauto.evaluator.nested import FoldOutcome, FoldSelection, FoldTest, TrialOutcome
from merauto.results.confirm import confirm_candidates
from merauto.results.selection import best_by_search, confirmed_per_fold_selection, global_selection, per_fold_selection, selected_trial
from merauto.results.store import RepeatRecord, ResultsStore
from merauto.search_space.presets import PRESETS

CLASSES = ("negative", "positive", "surprise")


def _fold(fold: int, inner_correct: bool, test_correct: bool) -> FoldOutcome:
    inner_pred = [0, 1, 2] if inner_correct else [1, 2, 0]
    test_pred = [0, 1] if test_correct else [2, 2]
    selection = FoldSelection(
        fold, f"s{fold}", [0.5], 1, ["a", "b", "c"], [0, 1, 2], inner_pred, float(inner_correct), float(inner_correct), []
    )
    ids, subjects, sources = [f"t{fold}a", f"t{fold}b"], [f"s{fold}"] * 2, ["casme2", "samm"]
    test = FoldTest(fold, f"s{fold}", ids, subjects, sources, [0, 1], test_pred, [[1, 0, 0], [0, 1, 0]])
    return FoldOutcome(selection, test, 0.0)


def test_selections_choose_by_inner_scores_and_report_test_scores(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    # trial 0: good inner score on fold 0 only; trial 1: good inner on folds 1 and 2 (better overall)
    # Test predictions are deliberately anti-correlated with inner scores: selection must not look at them.
    store.record(
        "s",
        0,
        state="complete",
        config=PRESETS["ststnet"],
        preset="ststnet",
        outcome=TrialOutcome(CLASSES, [_fold(0, True, False), _fold(1, False, True), _fold(2, False, True)]),
    )
    store.record(
        "s",
        1,
        state="complete",
        config=PRESETS["ststnet"],
        preset=None,
        outcome=TrialOutcome(CLASSES, [_fold(0, False, True), _fold(1, True, False), _fold(2, True, False)]),
    )
    store.record("s", 2, state="failed", config=None, preset=None, error="boom")
    partial = TrialOutcome(CLASSES, [_fold(0, True, True)])  # stopped after one fold: never selectable
    store.record("s", 3, state="pruned", config=PRESETS["ststnet"], preset=None, outcome=partial)
    trials = store.trials("s")
    assert [t.state for t in trials] == ["complete", "complete", "failed", "pruned"]

    chosen = global_selection(trials)
    assert chosen.fold_trials == {0: 1, 1: 1, 2: 1}
    assert chosen.scores["accuracy"] == 1 / 3  # trial 1 is right on fold 0's test subject only

    nested = per_fold_selection(trials)
    assert nested.fold_trials == {0: 0, 1: 1, 2: 1}
    assert nested.scores["accuracy"] == 0.0
    assert set(nested.by_source) == {"casme2", "samm"}
    low, high = nested.intervals()["uf1"]
    assert low <= nested.scores["uf1"] <= high


def test_store_round_trips_outcomes(tmp_path: Path) -> None:
    outcome = TrialOutcome(CLASSES, [_fold(0, True, True)])
    ResultsStore(tmp_path).record(
        "s", 5, state="complete", config=PRESETS["ststnet"], preset=None, outcome=outcome, n_params=1683, seconds=1.5
    )
    (trial,) = ResultsStore(tmp_path).trials("s")
    assert trial.outcome == outcome and trial.config == PRESETS["ststnet"] and trial.n_params == 1683
    assert trial.objective == outcome.objective()


def _two_trials(store: ResultsStore) -> None:
    """Trial 0 (a preset) is worse than trial 1 on the search's seed."""
    folds = {0: (True, False, False), 1: (False, True, True)}
    for number, correct in folds.items():
        outcome = TrialOutcome(CLASSES, [_fold(k, inner, not inner) for k, inner in enumerate(correct)])
        store.record("s", number, state="complete", config=PRESETS["ststnet"], preset="ststnet" if number == 0 else None, outcome=outcome)


def test_confirmation_selects_the_best_mean_over_seeds_of_the_confirmed_trials(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    _two_trials(store)
    assert selected_trial(store.trials("s")).number == 1
    assert [t.number for t in confirm_candidates(store.trials("s"), 1)] == [1, 0]  # the best trial, then the presets

    # On new seeds trial 0 is far better; repetitions alone (merauto repeat) do not change the selection...
    for number, inner in ((0, 0.9), (1, 0.2)):
        for seed in (1000, 2000):
            store.record_repeat("s", RepeatRecord(number, seed, inner, 0.5, 0.5, 0.5), {k: inner for k in range(3)})
    trials = store.trials("s")
    assert selected_trial(trials).number == 1 and trials[0].repeat_inner == (0.9, 0.9)
    # ...confirming both makes the selection the best mean inner UF1 over the search's seed and the new seeds
    store.record_confirmation("s", [0, 1])
    trials = store.trials("s")
    chosen = selected_trial(trials)
    assert chosen.number == 0 and chosen.confirmed_score == (trials[0].objective + 0.9 + 0.9) / 3
    assert "merauto confirm re-evaluated" in global_selection(trials).description
    assert best_by_search(trials).number == 1
    # per fold, the confirmed trials' fold-level inner UF1 averaged over the seeds: trial 0 on every fold
    assert confirmed_per_fold_selection(trials).fold_trials == {0: 0, 1: 0, 2: 0}
    assert per_fold_selection(trials).fold_trials == {0: 0, 1: 1, 2: 1}  # the search's seed alone
