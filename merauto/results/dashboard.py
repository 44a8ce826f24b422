"""`merauto dashboard`: serve a run's study with optuna-dashboard."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

from rich.console import Console

from merauto.errors import MerautoError
from merauto.results.run_dir import load_run


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
    info = load_run(run_dir)
    check_listenable(host, port)
    import optuna_dashboard

    from merauto.results.storage import open_storage

    storage = open_storage(info.storage_url)
    if not is_loopback(host):
        console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine on port {port} can read the study "
            "and change its notes; pass --host 127.0.0.1 (the default) to keep it on this machine",
            highlight=False,
        )
    console.print(f"optuna-dashboard for study {info.study_name!r} at http://{host}:{port}/ (Ctrl-C to stop)")
    optuna_dashboard.run_server(storage, host=host, port=port)


def check_listenable(host: str, port: int) -> None:
    """Refuse ``--host``/``--port`` where the dashboard's server (wsgiref, IPv4) cannot listen: the port
    is taken, reserved or out of range, or the host is no address of this machine. Bound and
    closed again as the server binds (``SO_REUSEADDR``), so a port just freed still passes."""
    if not 0 <= port <= 65535:
        raise MerautoError(f"--port {port} is not a port number", "pass one from 1024 to 65535, e.g. --port 8080")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise MerautoError(
                f"--host {host}: not an address to listen on ({exc.strerror})", "pass --host 127.0.0.1 or an IPv4 address of this machine"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                taken = "is in use by another program" if exc.errno == errno.EADDRINUSE else "is reserved for the administrator"
                raise MerautoError(
                    f"--port {port} on {host} {taken} ({exc.strerror})", f"pass a free port, e.g. --port {free_port(host)}"
                ) from None
            raise MerautoError(
                f"--host {host}: cannot listen there ({exc.strerror})", "pass --host 127.0.0.1 or an IPv4 address of this machine"
            ) from None


def free_port(host: str) -> int:
    """A port of ``host`` that nothing listens on now (the system's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
