"""`--warm-start RUN_DIR`: a previous search's finished trials as observations for the new study's sampler.

The previous trials' objectives are inner-validation scores, like every value a sampler reads,
so no test subject reaches the new search's choices through them; they are never trials of the
new study (not selected, not counted against --budget, not in its results store). A strict run
keeps each fold's study blind to the others, which a shared warm start would undo, so strict
searches refuse it.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from merauto.errors import MerautoError
from merauto.results.run_dir import load_run
from merauto.results.storage import open_storage

WARM_START_ATTR = "warm_start"  # study user attribute: the run whose trials informed the sampler, and how many


def warm_start_trials(run_dir: Path) -> tuple[str, list[FrozenTrial]]:
    """The study name and finished (complete or pruned) trials of the run in ``run_dir``."""
    info = load_run(run_dir)
    study = optuna.load_study(study_name=info.study_name, storage=open_storage(info.storage_url))
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if not any(t.state == TrialState.COMPLETE for t in trials):
        raise MerautoError(f"--warm-start {run_dir} has no completed trial to learn from", "warm-start from a run with completed trials")
    return info.study_name, trials
