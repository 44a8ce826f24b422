"""The settings a run folder or study recorded against those a command gives, as the options that
set them: a refused resume or warm start names only what differs and what to pass instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.results.run_dir import RUN_INFO, RunInfo, load_run

LOCATIONS = ("data_root", "data_config")  # where licensed data lies, not which data it is
# protocol key (RunInfo.protocol, plus the run's study name and storage) -> its option
OPTIONS = {
    "outer": "--outer",
    "inner": "--inner",
    "seed": "--seed",
    "pruning": "--pruning",
    "max_epochs": "--max-epochs",
    "init_checkpoint": "--init-checkpoint",
    "pretrain_dataset": "--pretrain-dataset",
    "objectives": "--objectives",
    "max_params": "--max-params",
    "max_latency_ms": "--max-latency-ms",
    "canary": "the leak canary",
    "study_name": "--study",
    "storage_url": "--storage",
}
UNSAID = {"objectives": ["uf1"]}  # what a protocol that leaves a key out means by it (RunInfo.protocol omits defaults)
FLAGS = {"refit": ("--refit", "--no-refit"), "strict": ("--strict", "--no-strict"), "audit": ("--audit", "no --audit")}


def dataset_options(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A dataset's JSON (:meth:`DatasetRequest.to_json`) as the options that set it (``synthetic.size`` -> ``--synthetic-size``)."""
    found: dict[str, str] = {}
    for key, value in data.items():
        if key in LOCATIONS:
            continue
        if isinstance(value, dict):
            found |= dataset_options(value, f"{prefix}{key}-")
        else:
            option = "--dataset" if key == "name" else f"--{prefix}{key}".replace("_", "-")
            found[option] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return found


def dataset_differences(earlier: DatasetRequest, now: DatasetRequest) -> list[str]:
    """How the dataset ``now`` differs from ``earlier``, as ``--option earlier -> now`` (``-``: not set);
    where the data lies is left aside, and another ``--dataset`` is said alone."""
    before, after = dataset_options(earlier.to_json()), dataset_options(now.to_json())
    if before["--dataset"] != after["--dataset"]:
        return [f"--dataset {before['--dataset']} -> {after['--dataset']}"]
    return [f"{o} {before.get(o, '-')} -> {after.get(o, '-')}" for o in dict.fromkeys([*before, *after]) if before.get(o) != after.get(o)]


def setting_differences(recorded: dict[str, Any], given: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The settings that differ between ``recorded`` and ``given`` (protocol dicts), each as
    ``option: recorded, given here``, and the options that would pass the recorded values."""
    said, passes = [], []
    if recorded.get("dataset") != given.get("dataset"):
        before, after = dataset_options(recorded.get("dataset", {})), dataset_options(given.get("dataset", {}))
        for option in dict.fromkeys([*before, *after]):
            if before.get(option) != after.get(option):
                said.append(f"{option}: the run has {before.get(option, 'none')}, this command {after.get(option, 'none')}")
                passes.append(f"{option} {before[option]}" if option in before else f"no {option}")
    for key in dict.fromkeys([*recorded, *given]):
        was, now = recorded.get(key, UNSAID.get(key)), given.get(key, UNSAID.get(key))
        if key == "dataset" or was == now:
            continue
        if key in FLAGS:
            on, off = FLAGS[key]
            said.append(f"{on}: the run has {on if was else off}, this command {on if now else off}")
            passes.append(on if was else off)
            continue
        option = OPTIONS.get(key, key)
        said.append(f"{option}: the run has {_value(was)}, this command {_value(now)}")
        passes.append(f"no {option}" if was is None else f"{option} {_value(was)}")
    return said, passes


def _value(value: Any) -> str:
    if value is None:
        return "none"
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def run_settings(info: RunInfo) -> dict[str, Any]:
    """What a run folder fixes for every search that resumes it: its protocol, study name and storage."""
    return {**info.protocol(), "study_name": info.study_name, "storage_url": info.storage_url}


def check_resumable(run_dir: Path, info: RunInfo) -> RunInfo | None:
    """The run info ``run_dir`` holds (``None``: a new run), refusing it when its settings differ from ``info``'s."""
    if not (Path(run_dir) / RUN_INFO).exists():
        return None
    existing = load_run(run_dir)
    refuse_other_settings(f"the study {existing.study_name!r} in {run_dir}", run_settings(existing), run_settings(info))
    return existing


def refuse_other_settings(what: str, recorded: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse resuming ``what`` (a run folder, a study) with settings other than ``recorded``, naming each one that differs."""
    said, passes = setting_differences(recorded, given)
    if not said:
        return
    give = [option for option in passes if not option.startswith("no ")]
    drop = [option.removeprefix("no ") for option in passes if option.startswith("no ")]
    resume = " and ".join(([f"pass {' '.join(give)}"] if give else []) + ([f"drop {' '.join(drop)}"] if drop else []))
    raise MerautoError(
        f"{what} was created with other settings than this command's:\n" + "\n".join(f"  - {line}" for line in said),
        f"to resume it, {resume}; or start a new run in another --run-dir (or with another --study)",
    )
