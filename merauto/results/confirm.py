"""`merauto confirm`: re-evaluate the search's best candidates over new seeds before one is selected.

The best of many noisy inner scores is a winner's curse: on 12-68 subjects the top trial's
search score is partly its seed's luck. Confirmation reruns the nested evaluation of the top
trials by inner-validation UF1 (and every preset, for comparison) with further seeds, and the
selection then takes the best *mean* inner-validation UF1 over the search's seed and those
repetitions (:func:`merauto.results.selection.selected_trial`). Only inner-validation scores
choose; the repetitions' outer scores are stored for the report and never read by a choice.
Seeds already stored for a trial (by an earlier confirm or ``merauto repeat``) are not rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from merauto.results.repeat import Repeater, repetition_seed
from merauto.results.selection import best_by_search, eligible, selected_trial
from merauto.results.store import StoredTrial


@dataclass(frozen=True)
class ConfirmSummary:
    """What `merauto confirm` did: the candidates, the repetitions it ran, and the selection before and after."""

    candidates: list[int]
    ran: int
    before: int
    after: StoredTrial


def confirm_candidates(trials: list[StoredTrial], top: int) -> list[StoredTrial]:
    """The ``top`` eligible trials by search objective, then every eligible preset not among them."""
    pool = eligible(trials)
    best = sorted(pool, key=lambda t: (-t.objective, t.number))[:top]
    presets = [t for t in pool if t.preset and t not in best]
    return best + presets


def confirm_run(run_dir: Path, top: int, seeds: int, cache_dir: Path, device: str, console: Console) -> ConfirmSummary | None:
    """Give the ``top`` trials and the presets ``seeds`` repetitions each and mark them as the
    selection's candidates; ``None`` when no trial is eligible yet."""
    repeater = Repeater(run_dir, cache_dir, device, console, "confirm")
    study = repeater.info.study_name
    trials = repeater.store.trials(study)
    candidates = confirm_candidates(trials, top)
    if not candidates:
        return None
    before = best_by_search(trials)
    search_seed = repeater.info.evaluation.seed
    stored = {(r.trial, r.seed) for r in repeater.store.repeats(study)}
    todo = [(t, r) for t in candidates for r in range(seeds) if (t.number, repetition_seed(search_seed, r)) not in stored]
    console.print(
        f"confirming {len(candidates)} trials ({', '.join(str(t.number) for t in candidates)}) over {seeds} new seeds: "
        f"{len(todo)} nested evaluations to run"
    )
    for i, (t, r) in enumerate(todo, 1):
        console.print(f"[{i}/{len(todo)}] trial {t.number}, repetition {r + 1}/{seeds}")
        repeater.repeat(t, r, seeds)
    repeater.store.record_confirmation(study, [t.number for t in candidates])
    after = selected_trial(repeater.store.trials(study))
    return ConfirmSummary([t.number for t in candidates], len(todo), before.number, after)
