"""`merauto dashboard`: serve a run's study with optuna-dashboard."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from merauto.results.run_dir import load_run
from merauto.results.storage import open_storage


def serve(run_dir: Path, host: str, port: int, console: Console) -> None:
    """Block serving optuna-dashboard for the run's storage until interrupted.

    Trial user attributes carry what a person compares: outer UF1/UAR (overall and per
    source), inner UAR, the preset's name, the config summary, and the error of failed trials.
    """
    import optuna_dashboard

    info = load_run(run_dir)
    storage = open_storage(info.storage_url)
    console.print(f"optuna-dashboard for study {info.study_name!r} at http://{host}:{port}/ (Ctrl-C to stop)")
    optuna_dashboard.run_server(storage, host=host, port=port)
