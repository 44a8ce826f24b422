"""Everything `merauto search` checks before it imports torch, Ray or Optuna, creates the run
directory or trains anything: the options, the run directory's files, the storage URL, the
dataset (every annotation read and every file decoded once) and the protocol's splits.
A bad input is refused here, in about a second for options and before any training for data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from merauto.data.datasets import validate_dataset
from merauto.data.sample_index import SampleIndex
from merauto.evaluator.protocol import check_protocol
from merauto.orchestrator.options import SearchOptions, validate
from merauto.orchestrator.settings_diff import check_resumable
from merauto.results.run_dir import RESULTS_FILE, absolute_storage_url, check_writable, default_storage_url
from merauto.results.sqlite_files import check_sqlite_writable, sqlite_path


@dataclass(frozen=True)
class CheckedSearch:
    """A search whose inputs passed every check: its options (storage URL made absolute) and its dataset."""

    options: SearchOptions
    index: SampleIndex


def preflight(options: SearchOptions, console: Console) -> CheckedSearch:
    """Check a search's inputs, cheapest first; raise :class:`MerautoError` naming the option or file and the fix."""
    validate(options)
    check_writable(options.run_dir)
    if options.storage_url is not None:
        options = replace(options, storage_url=absolute_storage_url(options.storage_url, Path.cwd()))
    _check_run_files(options)
    check_resumable(options.run_dir, options.run_info(options.storage_url or default_storage_url(options.run_dir)))
    if options.storage_url is not None and sqlite_path(options.storage_url) is None:
        from merauto.results.storage import open_storage  # a database server: connect now (imports Optuna)

        open_storage(options.storage_url)
    index = _load_dataset(options, console)
    check_protocol(options.outer, options.inner, index.labels, index.subjects, index.sources, index.ids, options.seed)
    return CheckedSearch(options, index)


def _check_run_files(options: SearchOptions) -> None:
    """Refuse an SQLite study that cannot be opened or written, and a results store that cannot be written."""
    study = sqlite_path(options.storage_url or default_storage_url(options.run_dir))
    if study is not None:
        check_sqlite_writable(study, "the study", storage_option=options.storage_url is not None)
    check_sqlite_writable(options.run_dir / RESULTS_FILE, "the results store")


def _load_dataset(options: SearchOptions, console: Console) -> SampleIndex:
    """The dataset's index after reading every annotation and file; refuses one with errors."""
    with console.status(f"loading dataset {options.dataset.label()} and reading every file once (generated on first use)"):
        loaded = validate_dataset(options.dataset, options.cache_dir)
    index = loaded.require()
    summary = index.summary()
    console.print(f"dataset {index.name}: {summary['samples']} clips, {summary['subjects']} subjects, classes {summary['classes']}")
    if loaded.warnings:
        kinds = Counter(f.kind for f in loaded.warnings)
        console.print(f"dataset warnings: {', '.join(f'{k} {n}' for k, n in kinds.items())} (merauto datasets check lists them)")
    return index
