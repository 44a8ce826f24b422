"""`merauto dashboard`: serve a run's study with optuna-dashboard."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from rich.console import Console

from merauto.results.run_dir import load_run
from merauto.results.storage import open_storage


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(run_dir: Path, host: str, port: int, console: Console) -> None:
    """Block serving optuna-dashboard for the run's storage until interrupted.

    Trial user attributes carry what a person compares: outer UF1/UAR (overall and per
    source), inner UAR, the preset's name, the config summary, and the error of failed trials.
    """
    import optuna_dashboard

    info = load_run(run_dir)
    storage = open_storage(info.storage_url)
    if not is_loopback(host):
        console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine on port {port} can read the study "
            "and change its notes; pass --host 127.0.0.1 (the default) to keep it on this machine",
            highlight=False,
        )
    console.print(f"optuna-dashboard for study {info.study_name!r} at http://{host}:{port}/ (Ctrl-C to stop)")
    optuna_dashboard.run_server(storage, host=host, port=port)
