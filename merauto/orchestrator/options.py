"""What `merauto search` is asked to do, and the checks that refuse bad options before any data is touched."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from merauto.data.datasets import DatasetRequest
from merauto.errors import MerautoError
from merauto.evaluator.canary import CANARIES
from merauto.evaluator.fidelity import parse_pruning
from merauto.evaluator.protocol import InnerSpec, OuterSpec
from merauto.evaluator.settings import MODES, PRETRAIN_DATASETS, EvaluationSettings
from merauto.evaluator.weights_check import check_weights_file
from merauto.orchestrator.settings_diff import dataset_differences
from merauto.pipeline.objectives import CostLimits, check_limits
from merauto.results.run_dir import RunInfo, load_run
from merauto.search_space.defaults import MAX_EPOCHS, STARTUP_TRIALS

DEVICES = ("auto", "cpu", "cuda")
SAMPLERS = ("tpe", "local")  # --sampler


@dataclass(frozen=True)
class SearchOptions:
    """Everything `merauto search` was asked to do."""

    dataset: DatasetRequest
    run_dir: Path
    study_name: str
    cache_dir: Path
    budget: int = 20
    storage_url: str | None = None
    time_budget_s: float | None = None  # --time-budget: wall time of this search
    trial_timeout_s: float | None = None  # a trial running longer fails
    max_trial_seconds: float | None = None  # --max-trial-seconds: a proposal predicted to train longer is not trained
    relative_trial_limit: float | None = None  # --max-trial-seconds auto: this many times the reference preset's predicted time
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    ray_address: str | None = None
    inner: InnerSpec = InnerSpec("holdout", 0.25)
    outer: OuterSpec = OuterSpec()
    refit: bool = True
    device: str = "auto"
    fold_batching: str = "auto"
    amp: bool = False
    pruning: str = "none"
    strict: bool = False
    max_epochs: int = MAX_EPOCHS
    seed_presets: bool = False
    startup_trials: int = STARTUP_TRIALS  # TPE samples at random until the study holds this many trials
    sampler: str = "tpe"  # --sampler: tpe, or local (half of the trials mutate the best one so far)
    warm_start: Path | None = None  # a previous run whose finished trials the sampler learns from
    init_checkpoint: Path | None = None  # model.safetensors (or model.pt) that strategy=finetune starts from
    pretrain_dataset: str | None = None  # or: the dataset it pre-trains on (PRETRAIN_DATASETS)
    audit: bool = False  # record per-epoch test curves for merauto audit (never read by a selection)
    canary: str | None = None  # the leak canary (merauto.evaluator.canary), for tests and benchmarks/leak_mutations.py
    objectives: tuple[str, ...] = ("uf1",)  # parse_objectives(--objectives)
    limits: CostLimits = CostLimits()  # --max-params, --max-latency-ms

    def run_info(self, storage_url: str) -> RunInfo:
        """What this search records in ``merauto.json`` (and must find there to resume a run)."""
        evaluation = EvaluationSettings(
            inner=self.inner,
            refit=self.refit,
            seed=self.seed,
            outer=self.outer,
            fold_batching=self.fold_batching,
            amp=self.amp,
            init_checkpoint=None if self.init_checkpoint is None else str(self.init_checkpoint.resolve()),
            pretrain_dataset=self.pretrain_dataset,
            audit=self.audit,
            canary=self.canary,
        )
        return RunInfo(
            self.study_name,
            storage_url,
            self.dataset,
            evaluation,
            self.pruning,
            self.strict,
            self.max_epochs,
            self.objectives,
            self.limits,
        )


def check_device(device: str, here: bool = True) -> None:
    """Refuse a ``--device`` that names no torch device, or CUDA where this machine (``here``: it trains here) has none."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise MerautoError(f"--device {device!r} is not a device", f"choose one of {', '.join(DEVICES)} or cuda:N")
    if device.startswith("cuda") and here:
        import torch

        if not torch.cuda.is_available():
            raise MerautoError(f"--device {device}: this machine has no CUDA device", "use --device auto or cpu")


def validate(options: SearchOptions) -> None:
    """Refuse bad options before any data is touched."""
    if options.budget < 1:
        raise MerautoError(f"--budget {options.budget}: the budget is a number of trials and must be at least 1", "pass e.g. --budget 20")
    for option, seconds in (("--time-budget", options.time_budget_s), ("--max-trial-seconds", options.max_trial_seconds)):
        if seconds is not None and not 0 < seconds < float("inf"):
            raise MerautoError(f"{option} {seconds:g}: must be a positive duration", f"pass e.g. {option} 1h, or omit it for no limit")
    if options.relative_trial_limit is not None and not options.relative_trial_limit > 0:
        raise MerautoError(f"relative trial limit {options.relative_trial_limit:g} must be > 0", "use --max-trial-seconds auto")
    if options.trial_timeout_s is not None and options.trial_timeout_s <= 0:
        raise MerautoError(
            f"--trial-timeout {options.trial_timeout_s:g}: must be a positive number of seconds", "omit --trial-timeout for no limit"
        )
    if options.cpus_per_trial <= 0:
        raise MerautoError(f"--cpus-per-trial {options.cpus_per_trial:g} must be > 0", "pass e.g. --cpus-per-trial 1")
    if options.gpus_per_trial < 0:
        raise MerautoError(f"--gpus-per-trial {options.gpus_per_trial:g} must be >= 0", "pass 0 on a machine without GPUs")
    if options.startup_trials < 1:
        raise MerautoError(f"--startup-trials {options.startup_trials} must be >= 1", f"omit it for the default ({STARTUP_TRIALS})")
    if options.sampler not in SAMPLERS:
        raise MerautoError(f"--sampler {options.sampler!r} is not a sampler", f"choose one of {', '.join(SAMPLERS)}")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise MerautoError(f"--max-concurrent {options.max_concurrent} must be >= 1", "omit it to fill the available CPUs")
    if options.fold_batching not in MODES:
        raise MerautoError(f"--fold-batching {options.fold_batching!r} is not a mode", f"choose one of {', '.join(MODES)}")
    parse_pruning(options.pruning)
    check_limits(options.limits)
    if options.canary is not None and options.canary not in CANARIES:
        raise MerautoError(f"canary {options.canary!r} is not a leak canary", f"choose one of {', '.join(CANARIES)}")
    if options.max_epochs < 1:
        raise MerautoError(f"--max-epochs {options.max_epochs} must be >= 1", f"omit it for the default ({MAX_EPOCHS})")
    if options.warm_start is not None:
        check_warm_start(options.warm_start, options.run_dir, options.objectives, options.strict, options.dataset)
    if options.strict and options.pruning != "none":
        raise MerautoError("--strict scores each fold's study on its own fold: fold rungs do not apply", "drop --pruning with --strict")
    check_device(options.device, here=options.ray_address is None)
    if options.init_checkpoint is not None and not options.init_checkpoint.is_file():
        raise MerautoError(
            f"--init-checkpoint {options.init_checkpoint}: no such file", "pass the model.safetensors (or model.pt) of a merauto export"
        )
    if options.init_checkpoint is not None and options.pretrain_dataset is not None:
        raise MerautoError("--init-checkpoint and --pretrain-dataset both say where finetune starts from", "pass one of them")
    if options.init_checkpoint is not None:
        check_weights_file(options.init_checkpoint)
    if options.pretrain_dataset is not None and options.pretrain_dataset not in PRETRAIN_DATASETS:
        raise MerautoError(f"--pretrain-dataset {options.pretrain_dataset!r} is unknown", f"choose one of: {', '.join(PRETRAIN_DATASETS)}")
    if options.amp and options.device == "cpu":
        raise MerautoError("--amp is mixed precision on CUDA: it does nothing with --device cpu", "drop --amp or use --device auto or cuda")
    if options.ray_address is None:
        _check_local_resources(options)
    else:
        check_reachable(options.ray_address)


def local_cpus() -> int:
    """The CPUs this process may run on (its affinity, as Ray counts them in a container)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_local_resources(options: SearchOptions) -> None:
    """Refuse trials that this machine cannot fit, before Ray or any data is touched."""
    cpus = local_cpus()
    if options.cpus_per_trial > cpus:
        raise MerautoError(
            f"--cpus-per-trial {options.cpus_per_trial:g}: this machine has {cpus} CPU(s), so no trial would ever start",
            f"pass at most --cpus-per-trial {cpus}, or join a larger Ray cluster with --ray-address",
        )
    if options.gpus_per_trial > 0:
        import torch  # only when GPUs are asked for

        gpus = torch.cuda.device_count()
        if options.gpus_per_trial > gpus:
            raise MerautoError(
                f"--gpus-per-trial {options.gpus_per_trial:g}: this machine has {gpus} CUDA GPU(s)",
                "pass --gpus-per-trial 0 (the default) to train on the CPU, or join a Ray cluster with GPUs (--ray-address)",
            )


CONNECT_TIMEOUT_S = 5.0  # how long a --ray-address may take to accept a connection
ANSWER_TIMEOUT_S = 2.0  # and then to answer an HTTP/2 greeting (a Ray server answers at once)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113, 3.4: what a client sends first
HTTP2_SETTINGS = 0x4  # the frame type every HTTP/2 server sends first
EMPTY_SETTINGS = bytes([0, 0, 0, HTTP2_SETTINGS, 0, 0, 0, 0, 0])  # length 0, type SETTINGS, no flags, stream 0


def check_reachable(address: str) -> None:
    """Refuse a ``--ray-address`` (``host:port`` or ``ray://host:port``; ``auto`` is not checked) that
    does not answer as a Ray server: no TCP connection within :data:`CONNECT_TIMEOUT_S`, or no
    HTTP/2 greeting within :data:`ANSWER_TIMEOUT_S` (Ray's GCS and client server speak gRPC, which
    is HTTP/2). Ray itself retries for ever, and rewrites 127.0.0.1 to the host's outward address."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise MerautoError(f"--ray-address {address!r} is not host:port", "pass e.g. --ray-address 10.0.0.5:6379, ray://host:10001 or auto")
    try:
        connection = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise MerautoError(
            f"--ray-address {address}: nothing answers at {host}:{port} ({exc.strerror or type(exc).__name__})",
            "start the cluster (ray start --head) and check the address with ray status, or omit --ray-address to run locally",
        ) from None
    with connection:
        reply = _http2_reply(connection)
    if len(reply) < len(EMPTY_SETTINGS) or reply[3] != HTTP2_SETTINGS:
        heard = "nothing" if not reply else f"{len(reply)} byte(s) that are not HTTP/2"
        raise MerautoError(
            f"--ray-address {address}: {host}:{port} accepts connections but does not answer as a Ray cluster "
            f"(a gRPC greeting got {heard} in {ANSWER_TIMEOUT_S:g} s): another program listens there, or a firewall holds the connection",
            "check the address and port with ray status on the head node (the GCS port, 6379 by default, or ray://host:10001 "
            "for the Ray client), or omit --ray-address to run locally",
        )


def _http2_reply(connection: socket.socket) -> bytes:
    """The first bytes (up to a frame header) a server sends back to an HTTP/2 greeting within :data:`ANSWER_TIMEOUT_S`."""
    connection.settimeout(ANSWER_TIMEOUT_S)
    reply = b""
    try:
        connection.sendall(HTTP2_PREFACE + EMPTY_SETTINGS)
        while len(reply) < len(EMPTY_SETTINGS):
            chunk = connection.recv(64)
            if not chunk:  # it hung up
                break
            reply += chunk
    except OSError:  # no answer in time, or the connection was reset
        pass
    return reply


def check_warm_start(run_dir: Path, new_run_dir: Path, objectives: tuple[str, ...], strict: bool, dataset: DatasetRequest) -> None:
    """Refuse a warm start that is no run, is the new run itself, searched another dataset (its
    scores say nothing about this one) or optimised other objectives (reads merauto.json only)."""
    if strict:
        raise MerautoError("--warm-start shares one run's trials with every fold study of --strict", "drop --warm-start or --strict")
    if Path(run_dir).resolve() == Path(new_run_dir).resolve():
        raise MerautoError(f"--warm-start {run_dir} is the run directory of this search", "pass an earlier run's folder")
    info = load_run(run_dir)
    if info.strict:
        raise MerautoError(f"--warm-start {run_dir} is a strict run (a study per fold)", "warm-start from a run without --strict")
    differences = dataset_differences(info.dataset, dataset)
    if differences:
        raise MerautoError(
            f"--warm-start {run_dir} searched dataset {info.dataset.label()}, this search {dataset.label()} "
            f"({'; '.join(differences)}): scores on another dataset say nothing about this one",
            f"warm-start from a run of {dataset.label()} with the same dataset options, or drop --warm-start",
        )
    if info.objectives != objectives:
        raise MerautoError(
            f"--warm-start {run_dir} optimised {','.join(info.objectives)}, this search {','.join(objectives)}",
            f"pass --objectives {','.join(info.objectives)}, or warm-start from a run with the same objectives",
        )
