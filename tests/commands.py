"""Running ``merauto`` commands from the tests.

:func:`merauto` runs a command in the test's own process through :func:`merauto.cli.main`, the
function the console script calls, with the command's environment, its output captured as text and
its exit status, as a separate process would give them. Torch, Ray, the ONNX exporter and merauto
are then imported once per test worker rather than once per command (3-7 s of CPU each time).

:func:`merauto_process` runs it as a separate process, for what only a process shows: a driver
killed with ``kill -9`` at a crash point, output written to a pipe by a fresh interpreter, limits
set on the child. :func:`start_merauto` starts one in the background, as a second terminal would.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from merauto.cli import main

TINY_ANY_CONCURRENCY = ["--synthetic-size", "tiny", "--max-epochs", "3"]  # three epochs keep every sampled trial cheap
# One trial at a time: on the suite's two busy cores a second trial actor runs no sooner and costs its imports (~4 s).
TINY = [*TINY_ANY_CONCURRENCY, "--max-concurrent", "1"]
LIVE = ["--synthetic-size", "tiny", "--max-epochs", "20", "--max-concurrent", "1"]  # trials still running when a test interrupts
COLUMNS = "200"  # a wide terminal's width: tables print whole


def command_env(cache: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a command runs with: the feature cache, a wide terminal, then ``env``."""
    return {"MERAUTO_CACHE": str(cache), "COLUMNS": COLUMNS, **(env or {})}


def merauto(*args: str, cache: Path, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``merauto ARGS`` run in this process; its exit status and output as :func:`subprocess.run` gives them.

    ``check``: a non-zero exit fails the test with the command's output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with _environment(command_env(cache, env)), redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's refusals and --help exit as the console script would
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return _checked(subprocess.CompletedProcess(["merauto", *args], code, stdout.getvalue(), stderr.getvalue()), check)


def merauto_process(
    *args: str, cache: Path, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``merauto ARGS`` run as a separate process (``python -m merauto``), output captured as text."""
    result = subprocess.run(
        [sys.executable, "-m", "merauto", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **command_env(cache, env)},
    )
    return _checked(result, check)


def start_merauto(*args: str, cache: Path) -> subprocess.Popen:
    """``merauto ARGS`` in the background, as a second terminal would run it (output captured as text)."""
    env = {**os.environ, **command_env(cache)}
    return subprocess.Popen([sys.executable, "-m", "merauto", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(run_dir: Path) -> Iterator[str]:
    """``merauto dashboard RUN_DIR`` serving on a free port of 127.0.0.1 until the block ends; yields its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "merauto", "dashboard", str(run_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def poll_json(url: str, timeout: float = 60) -> dict:
    """The JSON ``url`` answers with, asking again until it answers or ``timeout`` seconds pass."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _checked(result: subprocess.CompletedProcess, check: bool) -> subprocess.CompletedProcess:
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, result.args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then put back what was there."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
