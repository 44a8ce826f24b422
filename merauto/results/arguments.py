"""Checks of the arguments of the commands that read a run (report, audit, ensemble, export,
confirm), made before any heavy library is imported; the CLI and the Python API both call them."""

from __future__ import annotations

from merauto.errors import MerautoError

TABLE_FORMATS = ("markdown", "latex", "csv")  # what merauto.results.report.paper_table renders
MIN_RESAMPLES = 100  # fewer bootstrap resamples give no usable 95% interval
DEFAULT_SIZE = 20  # ensemble selection steps: auto-sklearn's default ensemble size is 50 over far more validation rows


def check_resamples(resamples: int) -> None:
    """Refuse too few bootstrap resamples for a 95% interval.

    >>> check_resamples(50)
    Traceback (most recent call last):
    merauto.errors.MerautoError: --resamples 50 is too few for a 95% interval
      fix: pass at least 100 (default 1000)
    """
    if resamples < MIN_RESAMPLES:
        raise MerautoError(f"--resamples {resamples} is too few for a 95% interval", f"pass at least {MIN_RESAMPLES} (default 1000)")


def check_ensemble_size(size: int) -> None:
    """Refuse an ensemble of no selection steps."""
    if size < 1:
        raise MerautoError(f"--size {size} must be >= 1", "pass e.g. --size 20 (selection steps, with replacement)")


def check_table_format(fmt: str) -> None:
    """Refuse a paper-table format that is not one of :data:`TABLE_FORMATS`."""
    if fmt not in TABLE_FORMATS:
        raise MerautoError(f"--table {fmt!r} is not a table format", f"choose one of {', '.join(TABLE_FORMATS)}")


def check_export_options(ensemble: bool, trial: int | None, fold: int | None, size: int) -> None:
    """Refuse an export that names a trial or fold and the ensemble at once, or an ensemble of no steps."""
    if ensemble and (trial is not None or fold is not None):
        raise MerautoError("--ensemble exports the run's global ensemble: it takes no --trial or --fold", "drop --trial/--fold")
    check_ensemble_size(size)


def check_confirm_options(top: int, seeds: int, top_option: str, seeds_option: str) -> None:
    """Refuse confirmation sizes that would confirm nothing (``top_option``, ``seeds_option``: their names in the refusal)."""
    if top < 0:
        raise MerautoError(f"{top_option} {top} must be >= 0", f"pass e.g. {top_option} 3 (the best three trials and the presets)")
    if seeds < 1:
        raise MerautoError(f"{seeds_option} {seeds} must be >= 1", f"pass e.g. {seeds_option} 2 (new seeds per confirmed trial)")
