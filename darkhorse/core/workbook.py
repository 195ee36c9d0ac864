"""Spreadsheet workbooks (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) read as text tables.

A workbook is read the way a CSV file is: every cell as the text a CSV export would hold, so
that the build's casts decide what is a number or a date and quarantine what is not. The rule:

- a blank cell is a missing value (an empty CSV field);
- a number is written as its shortest exact text, and a whole number without a decimal point
  (`85123`, not `85123.0`: a spreadsheet stores every number as a float, item codes included);
- a date or date-time cell is written with the column's format when the source declares one
  (`date_format`, `timestamp_format`), so typed cells and cells typed as text in that format
  read alike; otherwise as ISO 8601;
- `TRUE` / `FALSE` as `true` / `false`.

Each sheet's first non-blank row is its header; a blank header cell is named by its column's
letter (`column_F`). Rows are numbered as the spreadsheet numbers them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from darkhorse.core.errors import DarkHorseError

if TYPE_CHECKING:  # pandas only where a workbook is read: the config imports the suffixes
    import pandas as pd

SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


class WorkbookError(DarkHorseError, ValueError):
    """A workbook cannot be read; the message names the file (and the sheet)."""


@dataclass(frozen=True)
class Sheet:
    """One sheet as text: `frame` holds one column per header cell (str or None values) and
    one row per spreadsheet row after the header, blank rows included; `first_row` is the
    spreadsheet's number of the frame's first row."""

    name: str
    frame: pd.DataFrame
    first_row: int

    def filled(self) -> pd.DataFrame:
        """The rows with at least one filled cell, indexed by their spreadsheet row number."""
        import pandas as pd

        f = self.frame.set_axis(pd.RangeIndex(self.first_row, self.first_row + len(self.frame)), axis=0)
        return f[f.notna().any(axis=1)]


def is_workbook(path: str | Path) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_text(value: object, fmt: str | None = None) -> str | None:
    """A cell's text by the rule above; `fmt` (strftime) writes a date or date-time cell."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime(fmt) if fmt else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.strftime(fmt) if fmt else value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _header(cells: list[object], start_col: int, date_format: str | None) -> list[str]:
    names: list[str] = []
    for j, cell in enumerate(cells):
        if isinstance(cell, datetime) and cell.time() == time(0):
            cell = cell.date()  # a date typed in a header cell (a wide table's period) is a day
        name = cell_text(cell, date_format) or f"column_{_column_letter(start_col + j)}"
        base, k = name, 1
        while name in names:  # two header cells of one text: the second is `name_1`, as DuckDB names it
            name = f"{base}_{k}"
            k += 1
        names.append(name)
    return names


def read_workbook(path: str | Path, *, sheets: list[str] | None = None,
                  date_formats: dict[str, str | None] | None = None,
                  header_date_format: str | None = None) -> list[Sheet]:
    """The workbook's sheets as text (`sheets`: these, in this order; default: every sheet
    that holds a cell). `date_formats`: column name -> strftime format of its date cells;
    `header_date_format`: the format of date cells in the header (a wide table's periods).
    Raises WorkbookError naming the file for a workbook that cannot be opened (truncated, not a
    workbook, password protected) and for a named sheet it lacks."""
    import pandas as pd
    from python_calamine import CalamineError, CalamineWorkbook

    formats = date_formats or {}
    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as e:
        raise WorkbookError(f"{path}: cannot be read as a workbook ({type(e).__name__}: {e}); "
                            "is it whole, unprotected and a spreadsheet?") from None
    names = list(book.sheet_names)
    wanted = names if sheets is None else list(sheets)
    missing = [s for s in wanted if s not in names]
    if missing:
        raise WorkbookError(f"{path}: no sheet {', '.join(map(repr, missing))}; its sheets are {names}")
    out: list[Sheet] = []
    for name in wanted:
        try:
            sheet = book.get_sheet_by_name(name)
            rows = sheet.to_python()  # from the first used cell: `sheet.start` is its (row, column)
        except CalamineError as e:
            raise WorkbookError(f"{path}: sheet {name!r} cannot be read ({type(e).__name__}: {e})") from None
        if not rows or sheet.start is None:
            if sheets is not None:
                out.append(Sheet(name, pd.DataFrame(), 1))
            continue
        start_row, start_col = sheet.start
        header = _header(rows[0], start_col, header_date_format)
        fmts = [formats.get(h) for h in header]
        body = [[cell_text(v, fmts[j] if j < len(fmts) else None) for j, v in enumerate(r[: len(header)])]
                for r in rows[1:]]
        frame = pd.DataFrame(body, columns=header, dtype=object) if body else pd.DataFrame(columns=header, dtype=object)
        out.append(Sheet(name, frame, start_row + 2))
    return out


__all__ = ["SUFFIXES", "Sheet", "WorkbookError", "cell_text", "is_workbook", "read_workbook"]
