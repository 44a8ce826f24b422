"""The run directory: one folder per study holding its database, results, reports and exports."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merauto import __version__
from merauto.atomic import write_text_atomic
from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.evaluator.protocol import parse_inner, parse_outer
from merauto.evaluator.settings import EvaluationSettings
from merauto.pipeline.objectives import CostLimits
from merauto.search_space.defaults import MAX_EPOCHS

RUN_INFO = "merauto.json"
DEFAULT_RUNS = Path("merauto-runs")


STUDY_FILE = "study.db"  # the Optuna study, unless --storage names another database
RESULTS_FILE = "results.db"  # the results store (merauto.results.store)
SQLITE = "sqlite:///"


def default_storage_url(run_dir: Path) -> str:
    """SQLite file inside the run directory (what optuna-dashboard opens too)."""
    return f"{SQLITE}{(Path(run_dir) / STUDY_FILE).resolve()}"


def absolute_storage_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``base``; other URLs as they are."""
    if url.startswith(SQLITE) and not Path(url[len(SQLITE) :]).is_absolute() and url != SQLITE:
        return f"{SQLITE}{(Path(base) / url[len(SQLITE) :]).resolve()}"
    return url


def portable_storage_url(url: str, run_dir: Path) -> str:
    """``url`` as ``merauto.json`` records it: an SQLite file inside the run directory by its path
    relative to that directory, so the folder can be moved or archived and still open."""
    if url.startswith(SQLITE):
        path, folder = Path(url[len(SQLITE) :]).resolve(), Path(run_dir).resolve()
        if path.is_relative_to(folder):
            return SQLITE + str(path.relative_to(folder))
    return url


def _located_storage_url(recorded: str, run_dir: Path) -> str:
    """The URL to open for a recorded one: relative SQLite paths are inside ``run_dir``; an absolute
    one an older merauto recorded that points where the run no longer is, but whose file name is in
    ``run_dir`` (the run was moved), is found there."""
    url = absolute_storage_url(recorded, run_dir)
    if recorded.startswith(SQLITE) and recorded == url:
        old = Path(url[len(SQLITE) :])
        if not old.exists() and (Path(run_dir) / old.name).is_file():
            return default_storage_url(run_dir) if old.name == STUDY_FILE else f"{SQLITE}{(Path(run_dir) / old.name).resolve()}"
    return url


@dataclass(frozen=True)
class RunInfo:
    """What a run directory is about: written when the study is created, read by every command."""

    study_name: str
    storage_url: str
    dataset: DatasetRequest
    evaluation: EvaluationSettings
    pruning: str = "none"  # "none", or "asha:ETA" / "race:ALPHA" for multi-fidelity over fold rungs
    strict: bool = False  # one independent study per outer fold
    max_epochs: int = MAX_EPOCHS  # upper bound of the sampled epoch limit
    objectives: tuple[str, ...] = ("uf1",)  # what the study optimises (merauto.pipeline.objectives)
    limits: CostLimits = CostLimits()  # constraints on a trial's cost; trials beyond them are infeasible

    def protocol(self) -> dict[str, Any]:
        """The settings every trial of the study must share."""
        return {
            "dataset": self.dataset.to_json(),
            "outer": str(self.evaluation.outer),
            "inner": str(self.evaluation.inner),
            "refit": self.evaluation.refit,
            "seed": self.evaluation.seed,
            "pruning": self.pruning,
            "strict": self.strict,
            "max_epochs": self.max_epochs,
            **({"init_checkpoint": self.evaluation.init_checkpoint} if self.evaluation.init_checkpoint else {}),
            **({"pretrain_dataset": self.evaluation.pretrain_dataset} if self.evaluation.pretrain_dataset else {}),
            **({"audit": True} if self.evaluation.audit else {}),
            **({"canary": self.evaluation.canary} if self.evaluation.canary else {}),
            **({"objectives": list(self.objectives)} if self.objectives != ("uf1",) else {}),
            **({"max_params": self.limits.max_params} if self.limits.max_params is not None else {}),
            **({"max_latency_ms": self.limits.max_latency_ms} if self.limits.max_latency_ms is not None else {}),
        }

    @property
    def measures_latency(self) -> bool:
        """Whether trials measure their model's latency (an objective or a limit needs it)."""
        return "latency" in self.objectives or self.limits.max_latency_ms is not None

    def to_json(self, run_dir: Path) -> dict[str, Any]:
        """What ``merauto.json`` holds, the storage URL relative to ``run_dir`` where it lies inside it."""
        storage = portable_storage_url(self.storage_url, run_dir)
        return {"merauto_version": __version__, "study_name": self.study_name, "storage_url": storage, **self.protocol()}

    @classmethod
    def from_json(cls, data: dict[str, Any], run_dir: Path) -> RunInfo:
        """The run info ``merauto.json`` of ``run_dir`` holds, its storage URL resolved for where the folder is now."""
        evaluation = EvaluationSettings(
            inner=parse_inner(data["inner"]),
            refit=bool(data["refit"]),
            seed=int(data["seed"]),
            outer=parse_outer(data.get("outer", "loso")),
            init_checkpoint=data.get("init_checkpoint"),
            pretrain_dataset=data.get("pretrain_dataset"),
            audit=bool(data.get("audit", False)),
            canary=data.get("canary"),
        )
        dataset = DatasetRequest.from_json(data["dataset"])
        return cls(
            data["study_name"],
            _located_storage_url(data["storage_url"], run_dir),
            dataset,
            evaluation,
            data.get("pruning", "none"),
            bool(data.get("strict", False)),
            int(data.get("max_epochs", MAX_EPOCHS)),
            tuple(data.get("objectives", ("uf1",))),
            CostLimits(data.get("max_params"), data.get("max_latency_ms")),
        )

    def save(self, run_dir: Path) -> None:
        """Write ``merauto.json`` atomically."""
        write_text_atomic(Path(run_dir) / RUN_INFO, json.dumps(self.to_json(run_dir), indent=2), "the run info")


def fold_study_name(study_name: str, fold: int) -> str:
    """The study of outer fold ``fold`` in strict mode."""
    return f"{study_name}.fold{fold:03d}"


def load_run(run_dir: Path) -> RunInfo:
    """The :class:`RunInfo` of an existing run directory, or a clear error."""
    path = Path(run_dir) / RUN_INFO
    if not path.is_file():
        raise MerautoError(
            f"{run_dir} is not a merauto run directory (no {RUN_INFO})",
            "pass the folder a search wrote, e.g. merauto-runs/synthetic-small",
        )
    return RunInfo.from_json(json.loads(path.read_text()), Path(run_dir))


def check_writable(run_dir: Path) -> None:
    """Fail early if ``run_dir`` cannot be created or written, creating nothing."""
    probe_dir = Path(run_dir).resolve()
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise MerautoError(f"--run-dir {run_dir}: {probe_dir} is a file, not a folder", "choose another --run-dir")
    try:
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        raise MerautoError(
            f"--run-dir {run_dir} is not writable ({probe_dir}: {exc.strerror})",
            "choose a folder you can write to with --run-dir, or fix its permissions",
        ) from None
