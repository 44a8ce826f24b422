"""Coding sheets (xlsx or csv) read by header name, wherever the header row is.

Datasets ship their annotations as spreadsheets with preamble text above the header (SAMM),
unnamed columns (CASME II) and slightly different spellings of the same column
(``OnsetFrame``, ``Onset Frame``, ``OnsetF``). Headers are compared with case, spaces and
punctuation removed, and a field may have several accepted names.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merauto.errors import MerautoError

HEADER_SEARCH_ROWS = 50  # the header row must be among a sheet's first rows
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def normalise_header(text: object) -> str:
    """``'Onset Frame'`` -> ``'onsetframe'``: what header names are compared by."""
    return _NOT_ALNUM.sub("", str(text).lower()) if text is not None else ""


def cell_text(value: Any) -> str:
    """A cell as text: integral floats lose their ``.0``, empty cells become ``''``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Column:
    """A field of a coding sheet and the header names it may have (as the dataset spells them)."""

    field: str
    names: tuple[str, ...]
    required: bool = True

    def find(self, header: Sequence[str]) -> int | None:
        """Index of this field's column in a normalised ``header``, trying names in order."""
        for name in self.names:
            key = normalise_header(name)
            if key in header:
                return header.index(key)
        return None


@dataclass(frozen=True)
class SheetRow:
    """One data row: its row number in the file (1-based, as a spreadsheet shows it) and its fields."""

    number: int
    values: dict[str, str]


def _table_rows(path: Path) -> Generator[tuple[str, list[list[Any]]], None, None]:
    """(sheet name, rows) of every worksheet of an xlsx file, or the single table of a csv."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield path.name, [list(row) for row in csv.reader(handle)]
        return
    if suffix != ".xlsx":
        raise MerautoError(f"coding sheet {path} is neither .xlsx nor .csv", "save the sheet as .xlsx or .csv")
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise MerautoError(
            f"cannot read coding sheet {path}: {exc}", "replace it with the original file from the dataset, or save it again as .xlsx"
        ) from None
    try:
        for sheet in workbook.worksheets:
            yield sheet.title, [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def read_tables(path: Path) -> list[tuple[str, list[list[Any]]]]:
    """(sheet name, rows of cell values) of every worksheet of an xlsx file (or the one table of a csv), headerless sheets included."""
    path = Path(path)
    if not path.is_file():
        raise MerautoError(f"coding sheet {path} does not exist", "point merauto at the dataset's coding sheet")
    with closing(_table_rows(path)) as tables:
        return list(tables)


def read_sheet(path: Path, columns: Sequence[Column]) -> list[SheetRow]:
    """Rows of the first worksheet whose header row names every required column.

    Raises a :class:`MerautoError` naming the file, the missing columns and the closest header
    row found, so a renamed column is obvious.
    """
    path = Path(path)
    if not path.is_file():
        raise MerautoError(f"coding sheet {path} does not exist", "point merauto at the dataset's coding sheet")
    required = [c for c in columns if c.required]
    closest: tuple[int, str, int, list[str]] | None = None  # (matches, sheet, row number, header)
    with closing(_table_rows(path)) as tables:
        for sheet, rows in tables:
            for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
                header = [normalise_header(cell) for cell in row]
                positions = {c.field: c.find(header) for c in columns}
                matches = sum(positions[c.field] is not None for c in required)
                if matches == len(required):
                    return _data_rows(rows, i, positions)
                if matches and (closest is None or matches > closest[0]):
                    closest = (matches, sheet, i + 1, [cell_text(cell) for cell in row if cell_text(cell)])
    wanted = ", ".join(c.names[0] for c in required)
    if closest is None:
        found = "no row names any of them"
    else:
        header = [normalise_header(h) for h in closest[3]]
        missing = [c.names[0] for c in required if c.find(header) is None]
        found = f"the closest header (sheet {closest[1]!r}, row {closest[2]}) lacks {', '.join(missing)}; it has: {', '.join(closest[3])}"
    raise MerautoError(
        f"coding sheet {path} has no header row with the columns {wanted}: {found}",
        "restore the original column names in the sheet (spelling as distributed), or describe the clips in a manifest "
        "(--dataset manifest --manifest FILE)",
    )


def _data_rows(rows: list[list[Any]], header_row: int, positions: dict[str, int | None]) -> list[SheetRow]:
    out = []
    for number, row in enumerate(rows[header_row + 1 :], start=header_row + 2):
        values = {field: cell_text(row[i]) if i is not None and i < len(row) else "" for field, i in positions.items()}
        if any(values.values()):
            out.append(SheetRow(number, values))
    return out
