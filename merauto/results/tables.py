"""Rows of strings (one dict per row, the keys as column names) printed as a rich table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def print_rows(console: Console, title: str, rows: list[dict[str, str]], columns: Sequence[str] | None = None) -> None:
    """Print ``rows`` under ``title`` (nothing when there are none); ``columns`` picks and orders the columns."""
    if not rows:
        return
    table = Table(title=title)
    columns = list(columns or rows[0])
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(row.get(c, "") for c in columns))
    console.print(table)
