"""`merauto search` and `merauto prepare`: search pipelines, or fill the feature cache ahead of one."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merauto.cli.parser import FORMATTER, Commands, add_dataset_options, cache_dir, dataset_request


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    """`merauto search`: run or resume a search, then print its report and write report.html."""
    from merauto.orchestrator.preflight import preflight
    from merauto.orchestrator.request import search_option_defaults, search_request

    request = search_request(**{name: getattr(args, name) for name in search_option_defaults()})
    checked = preflight(request.options, console)  # bad options and data are refused before torch, Ray and Optuna are imported
    from merauto.orchestrator.search_command import search_and_report
    from merauto.results.report.summary import print_report

    done = search_and_report(request, checked, console)
    summary, run_dir = done.summary, request.options.run_dir
    print_report(done.report, Console(), top=5)
    console.print(f"{summary.finished}/{summary.budget} trials finished ({summary.failed} failed). Report: {done.html}")
    if summary.stopped_early:
        console.print(
            "the search stopped before its budget (interrupted, or the next trial did not fit --time-budget); "
            "run the same command again to resume"
        )
        return 130
    summary.require_a_trained_trial(done.html)
    console.print(f"next: merauto report {run_dir} | merauto export {run_dir} | merauto dashboard {run_dir}")
    return 0


def cmd_prepare(args: argparse.Namespace, console: Console) -> int:
    """`merauto prepare`: fill the feature cache for a space ahead of a search."""
    from merauto.orchestrator.prepare import print_summary, run_prepare

    inputs = [name.strip() for name in args.inputs.split(",") if name.strip()] if args.inputs else None
    summary = run_prepare(dataset_request(args), cache_dir(args), args.space, inputs, console)
    print_summary(summary, Console())
    return 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    search = commands.add_parser(
        "search",
        help="search MER pipelines with Optuna on Ray Tune, scored by nested LOSO",
        formatter_class=FORMATTER,
        description="Search MER pipelines. Optuna sees inner-validation UF1 only; test subjects never inform a choice. "
        "Running the same command again resumes the study until the budget is reached.",
    )
    add_dataset_options(search)
    run = search.add_argument_group("study")
    run.add_argument("--budget", type=int, default=20, help="number of finished trials the study should hold")
    run.add_argument("--study", default=None, help="study name (default: the dataset's name, e.g. synthetic-small)")
    run.add_argument(
        "--run-dir", type=Path, default=None, help="folder for the study, results, report and exports (default: merauto-runs/<study>)"
    )
    run.add_argument(
        "--storage", default=None, help="Optuna storage URL, e.g. postgresql://user:pass@host/db (default: sqlite file in the run dir)"
    )
    run.add_argument(
        "--max-epochs", type=int, default=80, help="upper bound of each trial's sampled epoch limit (lower: a faster, coarser search)"
    )
    run.add_argument(
        "--time-budget",
        default=None,
        metavar="DURATION",
        help="end the search after this wall time (3h, 90m, 1h30m or seconds): no trial starts that the cost model predicts "
        "would overrun it; trials still running at the end are re-run on resume",
    )
    run.add_argument(
        "--max-trial-seconds",
        default="auto",
        metavar="DURATION",
        help="a proposal whose training the cost model predicts to take longer is not trained and does not count against "
        "--budget: the sampler learns it is infeasible and proposes again. auto (default): 8 times the STSTNet preset's "
        "predicted time on this dataset and device; none: no limit; or a duration (20m, 1200)",
    )
    run.add_argument(
        "--trial-timeout",
        type=float,
        default=None,
        help="a trial running longer than this many seconds fails (recorded, the search goes on); default: no limit",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial's training")
    run.add_argument(
        "--seed-presets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="enqueue the literature presets (STSTNet-like) as the first trials (default; --no-seed-presets to sample only)",
    )
    search.add_argument(
        "--sampler",
        default="local",
        choices=("tpe", "local"),
        help="local (default): half of the trials after the first complete one mutate the best trial so far (chosen on "
        "inner-validation UF1), the others are TPE's; tpe: Optuna's multivariate TPE alone",
    )
    search.add_argument(
        "--startup-trials",
        type=int,
        default=10,
        help="TPE samples at random until the study holds this many trials, enqueued presets included",
    )
    search.add_argument(
        "--warm-start",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="the sampler also learns from this earlier run's finished trials (inner-validation scores; e.g. a search of the same "
        "dataset with another seed or budget): they count towards --startup-trials but are not trials of this study",
    )
    run.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="K",
        help="after the search, rerun the K best trials and the presets over --confirm-seeds new seeds and select by the mean "
        "inner-validation UF1 (as merauto confirm); 0: select on the search's single seed",
    )
    run.add_argument("--confirm-seeds", type=int, default=2, help="new seeds per trial for --confirm")
    protocol = search.add_argument_group("protocol")
    protocol.add_argument(
        "--outer",
        default="loso",
        help="outer loop: loso, kfold:K (subject-grouped), lodo (leave one source dataset out) or lovo (leave one video out; "
        "not subject-independent)",
    )
    protocol.add_argument(
        "--pruning",
        default=None,
        help="multi-fidelity over folds (default: race, or none with --strict): none; race[:ALPHA] (score trials on a "
        "stratified 1/16 of the folds first, then 1/4, then all, and stop a trial that a paired t-test over the rung's folds puts "
        "below the rung's leader at ALPHA, default 0.05); or asha[:ETA] (rungs of 1/ETA^2, 1/ETA, all folds; Ray Tune's ASHA "
        "stops a trial below the rung's top 1/ETA so far; ETA default 4). Only all-fold trials can be selected",
    )
    protocol.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run an independent study (--budget trials) per outer fold, so even the sampler's proposals for fold k never saw subject k",
    )
    protocol.add_argument(
        "--inner", default="holdout:0.25", help="inner validation inside each outer fold's training subjects: holdout:F, kfold:K or loso"
    )
    protocol.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="refit on all of a fold's training subjects for the selected epochs before predicting its test subject",
    )
    protocol.add_argument(
        "--objectives",
        default="uf1",
        help="what to optimise: uf1 (inner-validation UF1), or UF1 against cost: uf1,params, uf1,latency or uf1,params,latency "
        "(trainable parameters; median per-clip latency of the trial's model in onnxruntime, batch 1, one CPU thread). Several "
        "objectives make a multi-objective study with a Pareto front; multi-fidelity rungs prune on UF1 alone",
    )
    protocol.add_argument("--max-params", type=int, default=None, help="constraint: trials with more trainable parameters are infeasible")
    protocol.add_argument(
        "--max-latency-ms",
        type=float,
        default=None,
        help="constraint: trials slower than this (ms per clip, as for latency) are infeasible",
    )
    protocol.add_argument(
        "--audit",
        action="store_true",
        help="also record each fold's test predictions after every epoch of a test model trained to the maximum epochs, so "
        "merauto audit can show what leaky protocols (last epoch, best test epoch, best trial by test score) would report; "
        "never read by the sampler, pruner or early stopping",
    )
    protocol.add_argument(
        "--init-checkpoint",
        type=Path,
        default=None,
        help="model.safetensors (or model.pt) of a merauto export (same network) that strategy=finetune starts from; "
        "trained on other subjects than these",
    )
    protocol.add_argument(
        "--pretrain-dataset",
        default=None,
        help="or: pre-train each strategy=finetune trial's network on this separate dataset first (synthetic-macro: "
        "synthetic macro-expressions of a generated population of their own)",
    )
    compute = search.add_argument_group("compute")
    compute.add_argument(
        "--ray-address", default=None, help="join an existing Ray cluster (e.g. ray://host:10001 or auto); default: start Ray locally"
    )
    compute.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs reserved per trial (also its torch threads)")
    compute.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs reserved per trial (fractions share a GPU)")
    compute.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: as many as the resources fit)")
    compute.add_argument(
        "--fold-batching",
        default="auto",
        help="train a trial's many fold models as one batched computation (vmap) or one by one (loop); auto: vmap on CUDA",
    )
    compute.add_argument(
        "--device", default="auto", help="torch device for training: auto (CUDA when a trial sees a GPU), cpu, cuda or cuda:N"
    )
    compute.add_argument("--amp", action="store_true", help="mixed precision on CUDA: bfloat16 autocast of forward passes (ignored on CPU)")
    search.set_defaults(handler=cmd_search)

    prepare = commands.add_parser(
        "prepare",
        help="compute and cache the inputs of a search space ahead of a search",
        formatter_class=FORMATTER,
        description="Fill the feature cache (content-addressed; shared safely by parallel workers) and report, per stream "
        "kind, how many arrays were computed and how many were already cached.",
    )
    add_dataset_options(prepare)
    prepare.add_argument(
        "--space",
        default="defaults",
        help="which streams: defaults (each input's default, what search prepares) or full (every stream a search can sample)",
    )
    prepare.add_argument("--inputs", default=None, help="comma-separated inputs to prepare (default: every input the dataset can give)")
    prepare.set_defaults(handler=cmd_prepare)
