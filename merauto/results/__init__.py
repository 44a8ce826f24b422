"""Everything a run leaves on disk and the commands that read it: the run directory, the Optuna
storage, the results store, selections, the report, export and predict, repeat, the dashboard."""

from __future__ import annotations

from merauto._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RunInfo": "run_dir",
        "load_run": "run_dir",
        "open_storage": "storage",
        "ResultsStore": "store",
        "StoredTrial": "store",
        "global_selection": "selection",
        "per_fold_selection": "selection",
        "selected_trial": "selection",
        "build_report": "report.summary",
        "print_report": "report.summary",
        "write_html": "report.html",
        "ExportedPipeline": "export.pipeline",
        "export_pipeline": "export.pipeline",
        "repeat_trial": "repeat",
        "serve": "dashboard",
    },
)
