"""A run folder written by a search, from Python: its tables as pandas DataFrames, and the export and
report `merauto export` and `merauto report` write. Each method calls what the command calls, so a
DataFrame holds the numbers the command prints as text.

A search of two trials on the tiny synthetic set, then its tables, an export and predictions:

>>> import tempfile
>>> from pathlib import Path
>>> import merauto
>>> folder = Path(tempfile.mkdtemp())
>>> run = merauto.search(synthetic_size="tiny", budget=2, max_epochs=2, run_dir=folder / "run", cache_dir=folder / "cache")
>>> trials = run.trials()
>>> len(trials), list(trials.columns[:4])
(2, ['number', 'state', 'preset', 'inner_uf1'])
>>> bool((trials["inner_uf1"] > 0).all()), "params_topology" in trials.columns
(True, True)
>>> run.leaderboard()["trial"].tolist() == trials.sort_values("inner_uf1", ascending=False)["number"].tolist()
True
>>> estimates = run.estimates(resamples=200)
>>> estimates.loc[0, ["estimate", "role"]].tolist()
['per-fold selection', 'nested estimate']
>>> list(estimates.columns[2:8])
['uf1', 'uf1_low', 'uf1_high', 'uar', 'uar_low', 'uar_high']
>>> intervals = estimates.dropna(subset=["uf1_low"])  # the audit's rows give differences to the nested estimate instead
>>> bool((intervals["uf1_low"] <= intervals["uf1_high"]).all())
True
>>> export = run.export()
>>> pipeline = merauto.load_pipeline(export, cache_dir=folder / "cache")
>>> manifest = next((folder / "cache" / "synthetic").glob("tiny-*/manifest.csv"))
>>> clips = [manifest.parent / line.split(",")[3] for line in manifest.read_text().splitlines()[1:3]]
>>> predictions = pipeline.predict(clips)
>>> list(predictions.columns) == ["clip", "label", *(f"p_{c}" for c in pipeline.classes)]
True
>>> bool(predictions["label"].isin(pipeline.classes).all())
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console

from merauto.data.request import cache_dir_from
from merauto.errors import MerautoError
from merauto.results.arguments import DEFAULT_SIZE, check_ensemble_size, check_export_options, check_resamples
from merauto.results.run_dir import RunInfo, load_run

if TYPE_CHECKING:
    from merauto.results.store import StoredTrial

LEADERBOARD = ("rank", "trial", "preset", "inner_uf1", "inner_uar", "outer_uf1", "outer_uar", "n_params", "seconds", "config")


def progress_console(progress: bool) -> Console:
    """The command line's progress on standard error, or nothing."""
    return Console(stderr=True) if progress else Console(quiet=True)


class Run:
    """A run folder written by ``merauto search`` (or :func:`merauto.search`).

    ``cache_dir`` is where its dataset and cached inputs live (default: ``$MERAUTO_CACHE`` or
    ``~/.cache/merauto``), read when an export refits a pipeline or a report explains one.
    """

    def __init__(self, path: str | Path, cache_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.info: RunInfo = load_run(self.path)
        self.cache_dir = cache_dir_from(cache_dir)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, study={self.info.study_name!r}, dataset={self.info.dataset.label()!r})"

    def _studies(self) -> dict[int | None, list[StoredTrial]]:
        """The stored trials by outer fold of a strict run (a study each), else all under ``None``."""
        from merauto.results.store import ResultsStore

        store = ResultsStore(self.path)
        if self.info.strict:
            from merauto.results.report.summary import strict_fold_trials

            return dict(sorted(strict_fold_trials(store, self.info).items()))
        return {None: store.trials(self.info.study_name)}

    def trials(self) -> pd.DataFrame:
        """One row per finished trial, by number (a strict run: by fold, then number, column ``fold``):
        ``state`` (complete, pruned or failed), ``preset`` (the literature preset's name, or None for a
        sampled pipeline), ``inner_uf1`` (the objective the sampler saw: pooled inner-validation UF1) and
        ``inner_uar``, ``seconds``, ``n_params``, ``config`` (in words), the pipeline's parameters as
        ``params_NAME`` columns (as Optuna names them), ``note`` (why it was pruned or how it failed),
        and last the outer-test scores of trials evaluated on every fold (``outer_uf1``, ``outer_uar``),
        which no selection reads. Trials still running or waiting are not in it."""
        from merauto.results.report.summary import leaderboard_records

        rows = []
        for fold, trials in self._studies().items():
            by_number = {t.number: t for t in trials}
            for record in sorted(leaderboard_records(trials), key=lambda r: r["trial"]):
                trial = by_number[record["trial"]]
                row = {} if fold is None else {"fold": fold}
                row["number"] = record["trial"]
                row.update({k: record[k] for k in ("state", "preset", "inner_uf1", "inner_uar", "seconds", "n_params", "config")})
                row.update({f"params_{k}": v for k, v in (trial.config.to_params() if trial.config else {}).items()})
                row.update({"note": record["note"], "outer_uf1": record["outer_uf1"], "outer_uar": record["outer_uar"]})
                rows.append(row)
        frame = pd.DataFrame(rows)
        outer = ["note", "outer_uf1", "outer_uar"]
        return frame[[c for c in frame.columns if c not in outer] + [c for c in outer if c in frame.columns]]

    def leaderboard(self, top: int = 10) -> pd.DataFrame:
        """The ``top`` completed trials by inner-validation UF1, best first (what ``merauto report`` prints
        as its leaderboard, as numbers), indexed by rank."""
        if self.info.strict:
            raise MerautoError(
                f"{self.path} is a strict run: each outer fold has its own study and leaderboard",
                "use Run.trials() (column fold) or Run.estimates()",
            )
        from merauto.results.report.summary import leaderboard_records

        records = [r for r in leaderboard_records(self._studies()[None]) if r["state"] == "complete"][:top]
        return pd.DataFrame(records, columns=list(LEADERBOARD)).set_index("rank")

    def estimates(self, resamples: int = 1000) -> pd.DataFrame:
        """The run's estimates (``merauto report --table``, as numbers): the nested estimate first, the
        global selection, the presets as reference rows and, when recorded, the audit's shortcut
        protocols; pooled outer-test ``uf1`` and ``uar`` with 95% subject-bootstrap interval bounds
        (``uf1_low``, ``uf1_high``, ...) overall and per source (``uf1_SOURCE``, ...) from ``resamples``
        resamples of whole subjects; an audit row's difference to the nested estimate is ``uf1_vs_nested``."""
        check_resamples(resamples)
        from merauto.results.report.paper_table import paper_records
        from merauto.results.report.summary import build_report

        records, _ = paper_records(build_report(self.path), resamples)
        return pd.DataFrame(records)

    def audit(self, resamples: int = 1000) -> pd.DataFrame:
        """What each common protocol would report (``merauto audit``'s protocol table, as numbers): UF1
        and UAR, the differences to the nested estimate with paired subject-bootstrap intervals
        (``uf1_vs_nested``, ``_low``, ``_high``), UF1 per source, and ``how`` it chose."""
        check_resamples(resamples)
        from merauto.results.audit import load_audit, protocol_records

        return pd.DataFrame(protocol_records(load_audit(self.path, resamples)))

    def ensemble(self, size: int = DEFAULT_SIZE, resamples: int = 1000) -> pd.DataFrame:
        """The per-fold (nested) and global ensembles of the run's trials chosen on inner validation with
        up to ``size`` selection steps (``merauto ensemble``, as numbers), each against the best single
        trial chosen the same way (``uf1_vs_single`` with its paired interval)."""
        check_ensemble_size(size)
        check_resamples(resamples)
        from merauto.results.ensemble import ensemble_record, load_ensembles

        return pd.DataFrame([ensemble_record(result) for result in load_ensembles(self.path, size, resamples)])

    def export(
        self,
        out: str | Path | None = None,
        trial: int | None = None,
        *,
        fold: int | None = None,
        ensemble: bool = False,
        size: int = DEFAULT_SIZE,
        progress: bool = False,
    ) -> Path:
        """Refit the selected trial (or ``trial``; of outer fold ``fold`` in a strict run; or with
        ``ensemble`` the run's global ensemble of up to ``size`` steps) on every subject and write it to
        ``out`` (default ``RUN_DIR/export/trial-N``), as ``merauto export`` does; returns the folder."""
        check_export_options(ensemble, trial, fold, size)
        from merauto.results.export.pipeline import export_run

        out = None if out is None else Path(out)
        return export_run(self.path, self.cache_dir, progress_console(progress), out, trial, fold, ensemble, size)

    def report(self, html: str | Path | None = None, *, explain: bool = False, progress: bool = False) -> Path:
        """Write the run's report to ``html`` (default ``RUN_DIR/report.html``) as ``merauto report`` does
        (``explain``: with the selected pipeline's explanation maps, exporting it first); returns its path."""
        from merauto.results.report.page import write_report
        from merauto.results.report.summary import build_report

        html = None if html is None else Path(html)
        return write_report(build_report(self.path), self.cache_dir, progress_console(progress), html, explain)


def open_run(path: str | Path, cache_dir: str | Path | None = None) -> Run:
    """The run a search wrote to ``path`` (see :class:`Run` for ``cache_dir``); a clear error when it is none.

    >>> open_run("no/such/run")
    Traceback (most recent call last):
    merauto.errors.MerautoError: no/such/run is not a merauto run directory (no merauto.json)
      fix: pass the folder a search wrote, e.g. merauto-runs/synthetic-small
    """
    return Run(path, cache_dir)
