"""Coding sheets are read by header name, wherever the header is, from xlsx or csv."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from merauto.data.clips import frame_value
from merauto.data.sheets import Column, read_sheet
from merauto.errors import MerautoError

COLUMNS = (Column("onset", ("OnsetFrame", "OnsetF")), Column("apex", ("ApexFrame", "ApexF1")), Column("au", ("AUs",), required=False))


def test_csv_sheet_with_preamble_and_other_spellings(tmp_path: Path) -> None:
    sheet = tmp_path / "coding.csv"
    sheet.write_text("Coding of the clips,,\n,,\nOnset F,ApexF1,ApexF2\n12,15,\n,,\n20,/,22\n")
    rows = read_sheet(sheet, COLUMNS)
    assert [r.number for r in rows] == [4, 6]
    assert [r.values for r in rows] == [{"onset": "12", "apex": "15", "au": ""}, {"onset": "20", "apex": "/", "au": ""}]
    assert [frame_value(r.values["apex"]) for r in rows] == [15, None]


def test_xlsx_header_on_a_later_sheet_and_numeric_cells(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.append(["Notes only"])
    table = workbook.create_sheet("codes")
    table.append([None, "Onset Frame", "Apex Frame", "AUs"])
    table.append(["x", 46.0, 59, "4 or 7"])
    workbook.save(tmp_path / "codes.xlsx")
    (row,) = read_sheet(tmp_path / "codes.xlsx", COLUMNS)
    assert row.number == 2 and row.values == {"onset": "46", "apex": "59", "au": "4 or 7"}


def test_unusable_sheets_name_the_file_and_the_fix(tmp_path: Path) -> None:
    broken = tmp_path / "codes.xlsx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(MerautoError, match="cannot read coding sheet") as error:
        read_sheet(broken, COLUMNS)
    assert str(broken) in str(error.value) and error.value.fix
    old = tmp_path / "codes.xls"
    old.write_bytes(b"")
    with pytest.raises(MerautoError, match="neither .xlsx nor .csv"):
        read_sheet(old, COLUMNS)
    unrelated = tmp_path / "other.csv"
    unrelated.write_text("a,b\n1,2\n")
    with pytest.raises(MerautoError, match="no row names any of them"):
        read_sheet(unrelated, COLUMNS)
