"""Rows of strings (one dict per row, the keys as column names) printed as a rich table.

A table that fits the console prints one line per row. One that does not first drops the columns
its caller named as secondary; a ``fill`` column then takes the width left over (cut with "…" or
folded), and a table that still does not fit folds its cells, as before, rather than lose them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Console, OverflowMethod
from rich.measure import Measurement
from rich.table import Table

WIDE = 120  # columns from which a terminal counts as wide: below it (or piped) tables show their short form
FILL_WANTED = 56  # the width (at most) a fill column is counted at when deciding which secondary columns to drop
FILL_FLOOR = 8  # the narrowest a fill column gets, however little room the other columns leave


def is_wide(console: Console) -> bool:
    """Whether ``console`` is an interactive terminal of at least :data:`WIDE` columns."""
    return console.is_terminal and console.width >= WIDE


def print_rows(
    console: Console,
    title: str,
    rows: list[dict[str, str]],
    columns: Sequence[str] | None = None,
    *,
    drop: Sequence[str] = (),
    fill: str | None = None,
    fill_overflow: OverflowMethod = "fold",
) -> list[str]:
    """Print ``rows`` under ``title`` (nothing when there are none); ``columns`` picks and orders the columns.

    ``drop``: secondary columns, dropped in this order while the table is wider than the console;
    ``fill``: the column that takes the width left over, its overflow ``fill_overflow``. A line
    below the table names the dropped columns; they are returned.
    """
    if not rows:
        return []
    columns = list(columns or rows[0])
    shown = _fitted_columns(console, rows, columns, drop, fill)
    console.print(title, highlight=False)
    console.print(_table(console, rows, shown, fill, fill_overflow))
    left_out = [c for c in columns if c not in shown]
    if left_out:
        console.print(f"(left out at this width: {', '.join(left_out)})", style="dim", highlight=False)
    return left_out


def _fitted_columns(console: Console, rows: list[dict[str, str]], columns: list[str], drop: Sequence[str], fill: str | None) -> list[str]:
    """``columns`` less the fewest of ``drop`` (taken in order) for a table of one line per row to fit
    the console, counting ``fill`` at no more than :data:`FILL_WANTED` columns."""
    shown = list(columns)
    for column in drop:
        if _one_line_width(console, rows, shown, fill) <= console.width:
            break
        if column in shown:
            shown.remove(column)
    return shown


def _table(console: Console, rows: list[dict[str, str]], columns: list[str], fill: str | None, fill_overflow: OverflowMethod) -> Table:
    """The table of ``rows``: one line per row when it fits (or a fill column can take up the difference), folded cells otherwise."""
    fill_width = _fill_width(console, rows, columns, fill)
    if fill_width is None and _one_line_width(console, rows, columns, None) > console.width:
        return _folded_table(rows, columns)
    return _one_line_table(rows, columns, fill, fill_width, fill_overflow)


def _one_line_table(
    rows: list[dict[str, str]], columns: list[str], fill: str | None, fill_width: int | None, fill_overflow: OverflowMethod = "ellipsis"
) -> Table:
    """A borderless table whose cells keep to one line (cut with "…"), but for ``fill``'s, at most ``fill_width`` wide."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0, 0, 1), pad_edge=False)
    for column in columns:
        if column == fill:
            table.add_column(column, overflow=fill_overflow, no_wrap=fill_overflow != "fold", max_width=fill_width)
        else:
            table.add_column(column, overflow="ellipsis", no_wrap=True)
    for row in rows:
        table.add_row(*(row.get(c, "") for c in columns))
    return table


def _folded_table(rows: list[dict[str, str]], columns: list[str]) -> Table:
    """Every cell folds to fit: nothing is cut, rows take several lines."""
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(row.get(c, "") for c in columns))
    return table


def _cell_width(rows: list[dict[str, str]], column: str) -> int:
    """The widest line of ``column``'s header and cells."""
    return max(cell_len(line) for text in [column, *(r.get(column, "") for r in rows)] for line in text.splitlines() or [""])


def _one_line_width(console: Console, rows: list[dict[str, str]], columns: list[str], fill: str | None) -> int:
    """Columns a table of one line per row takes, with ``fill`` at no more than :data:`FILL_WANTED` columns."""
    table = _one_line_table(rows, columns, fill, FILL_WANTED)
    return Measurement.get(console, console.options.update_width(10**6), table).maximum


def _fill_width(console: Console, rows: list[dict[str, str]], columns: list[str], fill: str | None) -> int | None:
    """The width the fill column may take: what the other columns leave of the console (``None`` without a fill column)."""
    if fill is None or fill not in columns:
        return None
    others = _one_line_width(console, rows, columns, fill) - min(_cell_width(rows, fill), FILL_WANTED)
    return max(console.width - others, FILL_FLOOR)
