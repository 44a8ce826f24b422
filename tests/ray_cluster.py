"""A real Ray cluster of several nodes on this machine, started with ``ray start`` as a user starts one.

Each node is one ``ray start --block`` process that leads its own process group: its GCS (on the
head), raylet, agents and workers stay in that group, so killing the group kills the node, and a
process of the group that is still alive afterwards is a leftover. Each node has its own short
temporary folder (Unix socket paths must fit in 107 bytes). Token authentication is on, with a
fresh token in the environment, and HOME points into the cluster's folder: nothing is written to
the real home folder.

The tests address the cluster as 127.0.0.1:<port>. Ray 2.60 records a node started with
``--node-ip-address 127.0.0.1`` under the host's outward address once multi-node clusters are
enabled (``ray._private.services.resolve_ip_for_localhost``), and its servers then listen on every
interface, guarded by the token; 127.0.0.1:<port> reaches them all the same.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))  # the CLI installed beside this Python
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(process: psutil.Process) -> bool:
    """Whether ``process`` still runs (a zombie waiting to be reaped does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class RayNode:
    """One ``ray start --block`` node: its process group and temporary folder."""

    def __init__(self, process: subprocess.Popen, temp_dir: Path, log: Path) -> None:
        self.process, self.temp_dir, self.log = process, temp_dir, log
        self.seen: dict[int, psutil.Process] = {}  # every process of the node found so far, alive or not

    def processes(self) -> list[psutil.Process]:
        """The node's live processes: its process group and their descendants (the raylet starts
        its workers in process groups of their own, so a worker orphaned by a dead raylet is only
        known from an earlier call)."""
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == self.process.pid:
                    self.seen |= {p.pid: p for p in [process, *process.children(recursive=True)]}
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return [p for p in self.seen.values() if alive(p)]

    def node_id(self) -> str:
        """The node's Ray node id, read from its raylet's command line."""
        for process in self.processes():
            if process.name() == "raylet":
                return next(arg.split("=", 1)[1] for arg in process.cmdline() if arg.startswith("--node_id="))
        raise AssertionError(f"node {self.temp_dir} has no raylet:\n{self.log.read_text()}")

    def running_trial(self) -> bool:
        """Whether one of the node's workers is running a Ray Tune trial now."""
        return any(process.name().startswith("ray::ImplicitFunc.train") for process in self.processes())

    def kill(self) -> None:
        """SIGKILL every process of the node, as a crashed machine would stop (again while the
        raylet, in its last instant, may have started one more worker)."""
        deadline = time.monotonic() + 30
        while (left := self.processes()) and time.monotonic() < deadline:
            for process in left:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            time.sleep(0.1)
        self.process.wait(timeout=30)


class RayCluster:
    """A head node and ``workers`` worker nodes of ``cpus`` CPUs each; the context kills them all."""

    def __init__(self, workers: int = 1, cpus: int = 1) -> None:
        self.workers, self.cpus = workers, cpus
        self.root = Path(tempfile.mkdtemp(prefix="raycl-", dir="/tmp"))
        (self.root / "home").mkdir()
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_")}
        self.env |= {"HOME": str(self.root / "home"), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.address = f"127.0.0.1:{free_port()}"
        self.nodes: list[RayNode] = []

    def __enter__(self) -> RayCluster:
        try:
            port = self.address.rpartition(":")[2]
            head = ["--head", "--node-ip-address", "127.0.0.1", "--port", port, "--include-dashboard", "false"]
            self._start([*head, "--dashboard-port", str(free_port())])  # Ray's minimal dashboard runs all the same
            self._wait_for(1)
            for _ in range(self.workers):
                self._start(["--address", self.address])
            self._wait_for(1 + self.workers)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.kill()
        deadline = time.monotonic() + 30
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start(self, args: list[str]) -> None:
        number = len(self.nodes)
        temp_dir, log = self.root / f"n{number}", self.root / f"n{number}.log"
        command = [RAY, "start", "--block", "--num-cpus", str(self.cpus), "--temp-dir", str(temp_dir)]
        command += ["--dashboard-agent-listen-port", "0", "--disable-usage-stats", *args]
        with log.open("w") as out:
            process = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(RayNode(process, temp_dir, log))

    def active_nodes(self) -> int:
        """How many nodes the cluster counts as alive (``ray status``)."""
        status = subprocess.run([RAY, "status", "--address", self.address], env=self.env, capture_output=True, text=True, timeout=60)
        active = status.stdout.partition("Active:")[2].partition("Pending:")[0]
        return len(re.findall(r"^\s*1 node_[0-9a-f]+$", active, flags=re.MULTILINE))

    def _wait_for(self, nodes: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.active_nodes() < nodes:
            failed = [n for n in self.nodes if n.process.poll() is not None]
            if failed or time.monotonic() > deadline:
                logs = "\n".join(n.log.read_text() for n in self.nodes)
                raise AssertionError(f"the Ray cluster did not reach {nodes} node(s):\n{logs}")
            time.sleep(0.5)

    def leftovers(self) -> list[psutil.Process]:
        """Live processes of any node, or naming the cluster's folder."""
        found = {p.pid: p for node in self.nodes for p in node.processes()}
        for process in psutil.process_iter():
            try:
                if any(str(self.root) in arg for arg in process.cmdline()) and alive(process):
                    found[process.pid] = process
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return list(found.values())
