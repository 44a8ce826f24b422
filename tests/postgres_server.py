"""A real PostgreSQL server for the test session: ``initdb`` + ``pg_ctl`` in a temporary folder, on a free
127.0.0.1 port with trust authentication for loopback connections only, and a fresh database per test."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql"
SYSTEM_USER = "postgres"  # created by Debian's package; initdb and the server refuse to run as root


def server_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/*/bin``, else ``pg_config --bindir``,
    else the server the ``pgserver`` wheel ships (the ``test`` extra installs it)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    if shutil.which("pg_config"):
        bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
        if (bindir / "initdb").is_file():
            return bindir
    return wheel_bindir()


def wheel_bindir() -> Path:
    """The PostgreSQL binaries inside the ``pgserver`` wheel."""
    spec = importlib.util.find_spec("pgserver")
    bindir = Path(spec.origin).parent / "pginstall" / "bin" if spec is not None and spec.origin else None
    if bindir is None or not (bindir / "initdb").is_file():
        pytest.fail(
            "the PostgreSQL server binaries (initdb, pg_ctl) are missing: pip install -e '.[test]' brings them (pgserver, on Linux "
            f"with Python up to 3.12), or install Debian's: {INSTALL}"
        )
    return bindir


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``pg_ctl`` commands run as ``user`` (``None``: the current user) on ``data``."""

    bindir: Path
    root: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        """The SQLAlchemy/Optuna URL of ``database`` (psycopg 3, SQLAlchemy 2.1's default driver; superuser, no password)."""
        return f"postgresql://{SYSTEM_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:  # CREATE DATABASE needs autocommit
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        """Run ``tool`` from ``bindir`` as the server's user, failing the test with its output if it fails."""
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"{tool} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n{tail}")
        return result

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", SYSTEM_USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")  # loopback TCP only, no socket logins
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} -F"  # -F: no fsync
        self.run("pg_ctl", "start", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "-t", "60")

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_root() -> tuple[Path, str | None]:
    """A private temporary folder and the user to run the server as: this one, or, as root (which PostgreSQL refuses),
    the ``postgres`` system user Debian's package creates, else ``nobody``; the folder is then theirs."""
    root = Path(tempfile.mkdtemp(prefix="merauto-pg-"))
    if os.geteuid() != 0:
        return root, None
    for user in (SYSTEM_USER, "nobody"):
        try:
            shutil.chown(root, user)
        except LookupError:
            continue
        return root, user
    shutil.rmtree(root)
    pytest.fail(f"running as root needs an unprivileged user to run PostgreSQL as ({SYSTEM_USER} or nobody): {INSTALL}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and deleted at its end."""
    bindir = server_bindir()
    root, user = _server_root()
    server = PostgresServer(bindir, root, _free_port(), user)
    try:
        server.start()
        yield server
    finally:
        try:
            if (server.data / "postmaster.pid").exists():
                server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return postgres_server.create_database()
