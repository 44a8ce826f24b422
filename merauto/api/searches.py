"""``merauto.search()``: `merauto search` from Python, with the same options, checks and errors."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any

from merauto.api.runs import Run, progress_console
from merauto.errors import MerautoError
from merauto.orchestrator.preflight import preflight
from merauto.orchestrator.request import search_option_defaults, search_request


def _check_names(options: dict[str, Any]) -> None:
    """Refuse an option `merauto search` does not have, naming the nearest one."""
    known = search_option_defaults()
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise MerautoError(
                f"merauto.search() has no option {name!r}",
                f"{hint}the options are those of merauto search --help, with underscores for dashes",
            )


def search(
    dataset: str = "synthetic", budget: int = 20, run_dir: str | Path | None = None, *, progress: bool = False, **options: Any
) -> Run:
    """Run (or resume) a search as ``merauto search`` does, and return its :class:`~merauto.api.runs.Run`.

    ``options`` are those of ``merauto search --help`` by their names with underscores for dashes
    (``synthetic_size="tiny"``, ``max_epochs=2``, ``time_budget="1h"``, ``cache_dir=...``), with the
    same defaults; the same checks refuse bad ones (:class:`~merauto.errors.MerautoError`, its ``fix``
    says what to change) before anything is trained. Quiet unless ``progress``: then the command
    line's progress goes to standard error. A search stopped before its budget (interrupted, or its
    ``time_budget`` reached) warns; calling it again with the same options resumes it. Every trial
    failing raises, as the command exits with an error. The run folder, ``run_dir``, defaults to
    ``merauto-runs/STUDY``.

    >>> search(synthetic_size="tiny", max_epoch=2)
    Traceback (most recent call last):
    merauto.errors.MerautoError: merauto.search() has no option 'max_epoch'
      fix: did you mean max_epochs? the options are those of merauto search --help, with underscores for dashes
    >>> search(synthetic_size="tiny", budget=0)
    Traceback (most recent call last):
    merauto.errors.MerautoError: --budget 0: the budget is a number of trials and must be at least 1
      fix: pass e.g. --budget 20
    """
    _check_names(options)
    request = search_request(dataset=dataset, budget=budget, run_dir=run_dir, **options)
    console = progress_console(progress)
    checked = preflight(request.options, console)  # refused before torch, Ray and Optuna are imported
    from merauto.orchestrator.search_command import search_and_report

    done = search_and_report(request, checked, console)
    if done.summary.stopped_early:
        warnings.warn(
            f"the search stopped after {done.summary.finished} of {done.summary.budget} trials (interrupted, or the next trial "
            "did not fit time_budget); call merauto.search again with the same options to resume",
            stacklevel=2,
        )
    done.summary.require_a_trained_trial(done.html)
    return Run(request.options.run_dir, request.options.cache_dir)
