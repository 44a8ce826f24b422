"""`merauto report`, `merauto audit` and `merauto ensemble`: what a run found, read from its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from merauto.cli.parser import FORMATTER, Commands, add_cache_dir, add_resamples, cache_dir
from merauto.errors import MerautoError
from merauto.orchestrator.spot_command import SPOT_RESULTS


def _spot_report(args: argparse.Namespace, console: Console) -> int:
    """`merauto report` of a spotting run: its selections on the terminal, and its report.html."""
    from merauto.results.spotting.report import print_spot_report
    from merauto.results.spotting.report_html import write_spot_html
    from merauto.results.spotting.store import load_spot_trials

    trials = load_spot_trials(args.run_dir)
    print_spot_report(trials, Console(), args.resamples)
    console.print(f"wrote {write_spot_html(trials, args.run_dir, args.html, args.resamples)}")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """`merauto report`: the leaderboard and estimates, and report.html (of a search or a spotting run)."""
    from merauto.results.arguments import check_resamples, check_table_format
    from merauto.results.run_dir import RUN_INFO, load_run

    if args.table is not None:
        check_table_format(args.table)
    check_resamples(args.resamples)
    if (args.run_dir / SPOT_RESULTS).is_file() and not (args.run_dir / RUN_INFO).is_file():
        if args.table is not None:
            raise MerautoError(f"--table writes the estimates of a recognition search; {args.run_dir} is a spotting run", "drop --table")
        return _spot_report(args, console)
    load_run(args.run_dir)  # not a run directory: refused before the report's libraries are imported
    if args.table is not None:
        from merauto.results.report.paper_table import paper_table
        from merauto.results.report.summary import build_report

        print(paper_table(build_report(args.run_dir), args.table, args.resamples), end="")
        return 0
    from merauto.results.report.summary import build_report, print_report

    report = build_report(args.run_dir)
    print_report(report, Console(), top=args.top)
    from merauto.results.report.page import write_report

    console.print(f"wrote {write_report(report, cache_dir(args), console, args.html, args.explain)}")
    return 0


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    """`merauto audit`: what each common protocol would report, against the nested estimate."""
    from merauto.results.arguments import check_resamples
    from merauto.results.run_dir import load_run

    check_resamples(args.resamples)
    load_run(args.run_dir)
    from merauto.results.audit import load_audit, print_audit

    print_audit(load_audit(args.run_dir, args.resamples), Console())
    return 0


def cmd_ensemble(args: argparse.Namespace, console: Console) -> int:
    """`merauto ensemble`: ensembles of the search's trials, chosen on inner validation, against the best single trial."""
    from merauto.results.arguments import check_ensemble_size, check_resamples
    from merauto.results.run_dir import load_run

    check_ensemble_size(args.size)
    check_resamples(args.resamples)
    load_run(args.run_dir)
    from merauto.results.ensemble import load_ensembles, print_ensembles

    print_ensembles(load_ensembles(args.run_dir, args.size, args.resamples), Console())
    return 0


def add_commands(commands: Commands) -> None:
    """Declare this module's commands and their options."""
    report = commands.add_parser(
        "report", help="print the leaderboard and write report.html of a run (merauto search or merauto spot)", formatter_class=FORMATTER
    )
    report.add_argument("run_dir", type=Path, help="run directory written by merauto search or merauto spot")
    report.add_argument("--top", type=int, default=10, help="rows of the leaderboard to print")
    report.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of subjects per interval (spotting, --table)")
    report.add_argument(
        "--table",
        default=None,
        metavar="FORMAT",
        help="print the estimates as a table for a paper instead (markdown, latex or csv): the nested estimate first, the global "
        "selection, the presets as reference rows, UF1/UAR with intervals overall and per source, the audit's rows",
    )
    report.add_argument("--html", type=Path, default=None, help="where to write the HTML report (default: RUN_DIR/report.html)")
    report.add_argument(
        "--explain",
        action="store_true",
        help="add explanation maps of the selected pipeline (integrated gradients over its training clips; exports it first "
        "when RUN_DIR/export has no export of it; needs pip install 'merauto[explain]')",
    )
    add_cache_dir(report)
    report.set_defaults(handler=cmd_report)

    audit = commands.add_parser(
        "audit",
        help="what each common protocol (last epoch, best test epoch, best trial by test score) would report, against the nested estimate",
        formatter_class=FORMATTER,
        description="Pooled test UF1/UAR (overall and per source) under each protocol, with subject-level paired bootstrap "
        "intervals of the difference to the nested estimate. The epoch-level protocols need a search run with --audit.",
    )
    audit.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    add_resamples(audit)
    audit.set_defaults(handler=cmd_audit)

    ensemble = commands.add_parser(
        "ensemble",
        help="ensembles of the search's trials chosen on inner validation only, against the best single trial",
        formatter_class=FORMATTER,
        description="Greedy forward selection with replacement (Caruana et al.) over the completed trials, maximising the UF1 "
        "of their averaged inner-validation probabilities. The per-fold ensemble chooses fold k's members on fold k's inner "
        "validation only (the nested estimate); the global one on every fold's pooled inner validation (slightly optimistic). "
        "Test predictions average the members' stored test probabilities: nothing is retrained.",
    )
    ensemble.add_argument("run_dir", type=Path, help="run directory written by merauto search")
    ensemble.add_argument("--size", type=int, default=20, help="selection steps (members are picked with replacement)")
    add_resamples(ensemble)
    ensemble.set_defaults(handler=cmd_ensemble)
