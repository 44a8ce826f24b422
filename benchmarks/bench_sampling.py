"""What sampling one pipeline costs the search driver: Optuna's TPE against merauto's sampler.

Ray Tune's OptunaSearch warns when the define-by-run function takes over a second. merauto
samples with multivariate TPE in groups (about 50 groups of co-occurring parameters) with
constant liar; Optuna's TPE then reads the study's trials from the storage for every group
(Optuna's cached storage fetches the rows of the running and new trials only, about 7 SQL
statements a read, and filters and sorts every trial in memory).
``merauto.orchestrator.study.make_sampler`` (``GroupedTPESampler``) reads them once per trial.

For each study size N: a study in an SQLite file (opened by ``merauto.results.storage.open_storage``,
as a search opens it) is filled with N pipelines sampled by ``define_by_run`` for the composite's
context (landmarks, three sources, AU labels) with random objective values, ``--running`` of
them left RUNNING as in a parallel search (each trial is told when ``--running`` later ones have
been asked). The fill uses merauto's sampler (and no fsync: it is not timed). The file is copied
twice and the next ``--trials`` trials are sampled on one copy by Optuna's
``TPESampler(multivariate=True, group=True, constant_liar=True)`` and on the other by
``make_sampler``, same seed, alternating which goes first; both studies receive the same
objective values. Printed per N: wall seconds of one
``define_by_run`` (median, max) and SQL statements it issues (median) for each sampler, the
ratios (also of the median CPU seconds, less sensitive to other processes' load), and whether
the two samplers chose the same parameters for every trial. Last, under cProfile for
``--profiled`` more trials of the largest study: each sampler's time split into storage reads
(``get_all_trials``), parameter writes (``set_trial_param``: one committed transaction per
parameter), the constant-liar write (``set_trial_system_attr``), TPE's own computation and the
rest (merauto's space code, Optuna's trial bookkeeping). Each committed write waits for the disk
(SQLite's default, which merauto keeps); ``--no-fsync`` times without those waits.

    python benchmarks/bench_sampling.py --sizes 25,100,200 --trials 20
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sqlite3
import statistics
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from merauto.orchestrator.study import make_sampler
from merauto.results.storage import open_storage
from merauto.search_space.space import SpaceContext, define_by_run

STUDY = "bench"
CONTEXT = SpaceContext(landmarks=True, n_sources=3, au_labels=True)  # the composite's


def plain_tpe(seed: int) -> optuna.samplers.TPESampler:
    """Optuna's sampler with merauto's options, without the single read."""
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


class Driver:
    """One study in its own SQLite file, sampled as a search driver samples it: ``running`` trials
    in flight, each told (a random value) once ``running`` later trials have been asked."""

    def __init__(
        self, path: Path, sampler: optuna.samplers.BaseSampler, running: int, seed: int, create: bool = False, fsync: bool = True
    ) -> None:
        self.storage = open_storage(f"sqlite:///{path}")
        if not fsync:  # SQLite's PRAGMA synchronous=OFF on every connection from now on
            sqlalchemy.event.listen(self.storage.engine, "connect", lambda connection, _: connection.execute("PRAGMA synchronous=OFF"))
            self.storage.engine.dispose()
        if create:
            self.study = optuna.create_study(storage=self.storage, study_name=STUDY, direction="maximize", sampler=sampler)
        else:
            self.study = optuna.load_study(storage=self.storage, study_name=STUDY, sampler=sampler)
        # A copied study's RUNNING trials are told first, in order, as the filling driver would have.
        self.in_flight = deque(t.number for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
        self.running = running
        self.rng = random.Random(seed)
        self.statements = 0
        sqlalchemy.event.listen(self.storage.engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any, **kwargs: Any) -> None:
        self.statements += 1

    def step(self, profile: cProfile.Profile | None = None) -> tuple[float, float, int, dict[str, Any]]:
        """Ask a trial and sample it: wall and CPU seconds and SQL statements of ``define_by_run``, and its parameters."""
        trial = self.study.ask()
        self.statements = 0
        if profile is not None:
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        define_by_run(trial, CONTEXT)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profile is not None:
            profile.disable()
        statements = self.statements
        self.in_flight.append(trial.number)
        while len(self.in_flight) > self.running:
            self.study.tell(self.in_flight.popleft(), self.rng.random())
        return seconds, cpu, statements, trial.params

    def close(self) -> None:
        self.storage.engine.dispose()


def snapshot(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite database."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def cumulative(stats: pstats.Stats, where: str, name: str) -> float:
    """Cumulative seconds of the functions called ``name`` defined in a file whose path ends with ``where``."""
    return sum(entry[3] for (path, _, function), entry in stats.stats.items() if function == name and path.endswith(where))  # type: ignore[attr-defined]


def breakdown(profile: cProfile.Profile, total: float) -> str:
    """Shares of the profiled define-by-run time: storage reads, writes, TPE's computation, the rest."""
    stats = pstats.Stats(profile)
    reads = cumulative(stats, "storages/_cached_storage.py", "get_all_trials")
    params = cumulative(stats, "storages/_cached_storage.py", "set_trial_param")
    liar = cumulative(stats, "storages/_cached_storage.py", "set_trial_system_attr")
    # Every storage read of define-by-run happens in TPE's _sample (per group and per independent
    # parameter) or in the group decomposition (the first, cached, read of the trial).
    decomposition = cumulative(stats, "search_space/group_decomposed.py", "calculate")
    tpe = cumulative(stats, "samplers/_tpe/sampler.py", "_sample") + decomposition - reads
    rest = total - reads - params - liar - tpe
    parts = {"reads": reads, "param writes": params, "liar write": liar, "TPE computation": tpe, "rest": rest}
    return ", ".join(f"{name} {100 * seconds / total:.0f}%" for name, seconds in parts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25,100,200", help="comma-separated study sizes (trials already in the study)")
    parser.add_argument("--trials", type=int, default=20, help="timed trials per size and sampler")
    parser.add_argument("--running", type=int, default=2, help="trials in flight besides the one being sampled")
    parser.add_argument("--profiled", type=int, default=5, help="trials per sampler profiled on the largest study (0: none)")
    parser.add_argument("--no-fsync", action="store_true", help="time with PRAGMA synchronous=OFF (merauto keeps SQLite's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # Study.ask warns that heartbeats are meant for Study.optimize; Ray's OptunaSearch asks too.
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

    samplers: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {"optuna": plain_tpe, "merauto": make_sampler}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fill = Driver(root / "fill.db", make_sampler(args.seed + 1), args.running, args.seed + 1, create=True, fsync=False)
        start = time.perf_counter()
        filled = 0
        sync = "synchronous=OFF" if args.no_fsync else "SQLite's default synchronous=FULL"
        print(f"optuna {optuna.__version__}, SQLite file ({sync}), {args.running} trial(s) running; load average {os.getloadavg()[0]:.1f}")
        header = f"{'N':>5}{'optuna s med':>14}{'max':>7}{'merauto s med':>15}{'max':>7}{'ratio':>8}{'CPU ratio':>11}"
        rows = [header + f"{'optuna SQL':>12}{'merauto SQL':>13}{'ratio':>8}{'same params':>13}"]
        shares: dict[str, str] = {}
        for n in sizes:
            while filled < n:
                fill.step()
                filled += 1
            drivers = {}
            for name, factory in samplers.items():
                snapshot(root / "fill.db", root / f"{name}-{n}.db")
                drivers[name] = Driver(root / f"{name}-{n}.db", factory(args.seed), args.running, args.seed, fsync=not args.no_fsync)
            seconds: dict[str, list[float]] = {name: [] for name in drivers}
            cpu: dict[str, list[float]] = {name: [] for name in drivers}
            statements: dict[str, list[int]] = {name: [] for name in drivers}
            params: dict[str, list[dict[str, Any]]] = {name: [] for name in drivers}
            for k in range(args.trials):
                for name in list(drivers)[:: 1 if k % 2 == 0 else -1]:
                    s, c, q, p = drivers[name].step()
                    seconds[name].append(s)
                    cpu[name].append(c)
                    statements[name].append(q)
                    params[name].append(p)
            o, m = seconds["optuna"], seconds["merauto"]
            cpu_ratio = statistics.median(cpu["optuna"]) / statistics.median(cpu["merauto"])
            oq, mq = statistics.median(statements["optuna"]), statistics.median(statements["merauto"])
            same = "yes" if params["optuna"] == params["merauto"] else "NO"
            rows.append(
                f"{n:>5}{statistics.median(o):>14.3f}{max(o):>7.3f}{statistics.median(m):>15.3f}{max(m):>7.3f}"
                f"{statistics.median(o) / statistics.median(m):>7.1f}x{cpu_ratio:>10.1f}x{oq:>12.0f}{mq:>13.0f}{oq / mq:>7.1f}x{same:>13}"
            )
            if n == sizes[-1] and args.profiled:
                for name, driver in drivers.items():
                    profile = cProfile.Profile()
                    total = sum(driver.step(profile)[0] for _ in range(args.profiled))
                    shares[name] = f"{name}: {total / args.profiled:.3f} s/trial under cProfile: {breakdown(profile, total)}"
            for driver in drivers.values():
                driver.close()
        fill.close()
        for row in rows:
            print(row)
        if args.profiled:
            print(f"where define_by_run's time goes (N={sizes[-1]}, {args.profiled} more trial(s) each):")
            for line in shares.values():
                print("  " + line)
        print(f"total {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
