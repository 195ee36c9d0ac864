"""A weekly panel of your own, read from one file, for the accuracy suite (`--panel-file`).

The file holds one row per series and period: a series id, a date and a non-negative quantity
(CSV, gzipped CSV, Parquet or a spreadsheet workbook, read by the build's rule for workbooks:
`darkhorse.core.workbook`, its first sheet or `--panel-sheet`; the column names are `--panel-columns`, default
`unique_id,ds,y`; an id of several columns is `store+dept`, their values joined with '_'). Dates
are ISO 8601 unless `--panel-date-format` gives a strptime format; a CSV file's delimiter is
detected, and numbers written `1.234,5` are read with `--panel-decimal` and `--panel-thousands`
(the build's rule for a CSV source's `decimal` and `thousands`: `darkhorse.core.sql.number_text`). Each date counts for the
Monday-to-Sunday week that holds it, rows of the same series and week are summed (daily rows
make weekly totals), and a week without a row counts as zero from the series' first week to the
panel's last: the suite's dense panel, with the hot-seller label of the dbt mart
(`labels.hot_seller_labels`) and the panel settings (horizon, lookback, label quantile) of the
suite's `--config`. Columns known ahead (`--panel-known`: price, promotion, holiday flags) are
aggregated per week and become the panel's known-future covariates; a week without a value is
filled as the build fills a known-future column (a mean carries the last value, a max or sum is 0).

Bad rows (an empty id, a date or quantity that is missing or not one, a negative quantity) are
set aside the way the build quarantines them: each reason is logged with its count and its first
line (CSV: the file's own line number, the header being line 1; a workbook: the sheet's row
number; Parquet: the row number) and
column, and kept in the panel's result (`set_aside`). Above the share of bad rows the build
would publish (`gate.max_quarantined_share` of the suite's `--config`, 10%), or for a file that
cannot be read at all, `PanelFileError` says why and nothing of the file is scored.

A wide file (`--panel-wide GLOB`: one row per series, one column per period) becomes rows of
its filled cells by the rule of the build's wide sales source (`darkhorse.core.wide`: the
period columns' names, with `--panel-first-date`, date them; a blank cell is no row);
`--panel-columns` then names the id only, and a bad cell is named by its line and its column.

Rows of days (`--panel-granularity daily`) leave out the file's first and last week where its
dates cover them only in part, as the build does with a daily source; read as weekly rows (the
default), a file whose series hold several dates a week and whose dates end mid-week is warned of
that.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import logging
import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from benchmarks.accuracy.panels import Panel, PanelError, dense, history_from_frame, monday_of
from darkhorse.core.config import CSV_ENCODINGS as ENCODINGS
from darkhorse.core.config import (
    DECIMAL_SEPARATORS,
    ITEM_ID_SEPARATOR,
    KNOWN_FUTURE_DEFAULT_FILL,
    THOUSANDS_SEPARATORS,
    PanelConfig,
)
from darkhorse.core.schema import DS, ID, Y
from darkhorse.core.sql import flag_number, number_text
from darkhorse.core.wide import WideLayoutError, period_columns, period_dates, step_days
from darkhorse.core.workbook import SUFFIXES as WORKBOOK_SUFFIXES
from darkhorse.core.workbook import WorkbookError, read_workbook
from training.groups import groups_from_ids
from training.history import History

DEFAULT_COLUMNS = (ID, DS, Y)
SUFFIXES = (".csv", ".csv.gz", ".parquet", *WORKBOOK_SUFFIXES)
WIDE_CELL = "__period_column"  # a wide file's cell: the column it came from


log = logging.getLogger(__name__)


class PanelFileError(PanelError, ValueError):
    pass


def parse_columns(spec: str, *, wide: bool = False) -> tuple[str, str, str]:
    """`id,date,quantity` column names of a `--panel-columns` value; an id of several columns is
    `a+b` (their values joined with '_'). A wide file's value names the id only (the default: `unique_id`)."""
    cols = tuple("+".join(p.strip() for p in c.split("+")) for c in spec.split(","))
    if wide:
        if spec == ",".join(DEFAULT_COLUMNS):
            return DEFAULT_COLUMNS
        if len(cols) != 1 or not all(cols[0].split("+")):
            raise PanelFileError(f"--panel-columns {spec!r}: with --panel-wide name the id column only "
                                 "(e.g. Product_Code; store+dept for an id of two columns)")
        return (cols[0], DS, Y)
    if len(cols) != 3 or not all(p for c in cols for p in c.split("+")) or len(set(cols)) != 3:
        raise PanelFileError(f"--panel-columns {spec!r}: give three different column names, id,date,quantity "
                             "(e.g. sku,week_ending,units; store+dept,date,sales for an id of two columns)")
    return cols  # type: ignore[return-value]


KNOWN_AGGS = ("mean", "max", "sum")
GRANULARITIES = ("weekly", "daily")


def parse_wide(periods: str | None, first_date: str | None) -> tuple[str, date | None] | None:
    """(glob, first date) of `--panel-wide` and `--panel-first-date`, None without a glob."""
    if periods is None:
        if first_date is not None:
            raise PanelFileError("--panel-first-date needs --panel-wide")
        return None
    if not periods.strip():
        raise PanelFileError("--panel-wide: give the glob of the period columns (e.g. 'W*')")
    try:
        return periods, (date.fromisoformat(first_date) if first_date else None)
    except ValueError:
        raise PanelFileError(f"--panel-first-date {first_date!r}: give a date as YYYY-MM-DD") from None


def parse_known(spec: str | None, columns: tuple[str, str, str]) -> dict[str, str]:
    """Column -> weekly aggregate of a `--panel-known COL[:AGG],...` value (AGG: mean, max or
    sum; default mean)."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        col, _, agg = (x.strip() for x in part.partition(":"))
        agg = agg or "mean"
        if agg not in KNOWN_AGGS:
            raise PanelFileError(f"--panel-known {part.strip()!r}: aggregate {agg!r} is not one of {', '.join(KNOWN_AGGS)}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", col) or col in (ID, DS, Y, *columns[0].split("+"), *columns[1:]) or col in out:
            raise PanelFileError(f"--panel-known {part.strip()!r}: {col!r} must be a column name of letters, digits and '_', "
                                 "other than the id, date and quantity columns, named once")
        out[col] = agg
    return out


def panel_name(path: Path, taken: set[str]) -> str:
    """The panel's name (its folder under the suite's output): the file's name without its
    suffix, in letters, digits, '_' and '-'; `file_` before it, then a number after it, where
    that name is `taken` (a suite panel's or another file's)."""
    stem = path.name
    for s in SUFFIXES:
        if stem.lower().endswith(s):
            stem = stem[: -len(s)]
            break
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "panel"
    name, k = base, 1
    while name in taken:
        name = f"file_{base}" if k == 1 else f"file_{base}_{k}"
        k += 1
    return name


def check_path(path: Path) -> None:
    """That `path` is a file of a type the reader knows (before any panel runs)."""
    if not path.is_file():
        raise PanelFileError(f"{path}: no such file")
    if not path.name.lower().endswith(SUFFIXES):
        raise PanelFileError(f"{path}: unknown file type; give a {', '.join(SUFFIXES)} file")


@dataclasses.dataclass(frozen=True)
class _Place:
    """Where a file's rows are: `name` (the file, or the file and its sheet), the number of its
    first data row and what the numbers count (a CSV `line`, a sheet's `row`, Parquet's `row` from 0)."""

    name: str
    first: int
    unit: str

    def of(self, row: int) -> str:
        return f"{self.name}: {self.unit} {self.first + row}"


def _delimiter(path: Path, encoding: str) -> str:
    """The CSV file's field delimiter (`,`, `;`, a tab or `|`), found from its first lines as the
    build's reader detects it; `,` where nothing else is clear."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_file(path: Path, sheet: str | None = None, needed: tuple[str, ...] = (),
               encoding: str = "utf-8") -> tuple[pd.DataFrame, _Place]:
    """The file's rows (a workbook: the sheet `sheet`, default its first holding the `needed`
    columns, or else its first holding a cell), and where they are."""
    check_path(path)
    if sheet is not None and not path.name.lower().endswith(WORKBOOK_SUFFIXES):
        raise PanelFileError(f"{path}: --panel-sheet is for workbooks ({', '.join(WORKBOOK_SUFFIXES)})")
    try:
        if path.name.lower().endswith(".parquet"):
            return pd.read_parquet(path), _Place(str(path), 0, "row")
        if path.name.lower().endswith(WORKBOOK_SUFFIXES):
            sheets = read_workbook(path, sheets=None if sheet is None else [sheet])
            if not sheets:
                raise PanelFileError(f"{path}: no sheet holds a cell")
            chosen = next((s for s in sheets if set(needed) <= set(s.frame.columns)), sheets[0])
            # every cell as the text a CSV export holds, blank rows kept: rows named as the sheet numbers them
            return chosen.frame, _Place(f"{path} sheet {chosen.name!r}", chosen.first_row, "row")
        # every field as text, blank lines kept: the checks below name the line of a bad
        # value instead of letting a parser guess a column's type or skip a line
        return (pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False,
                            sep=_delimiter(path, encoding), encoding=encoding),
                _Place(str(path), 2, "line"))
    except WorkbookError as e:
        raise PanelFileError(str(e)) from None
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as e:
        raise PanelFileError(f"{path}: cannot be read ({type(e).__name__}: {str(e).strip()[:300]})") from e


def _ids(raw: pd.DataFrame, id_spec: str) -> pd.Series:
    """The series id of each row: one column, or several joined with '_' (a config's
    `item_id: [a, b]`), missing where any part is (`missing_item_id`)."""
    id_parts = id_spec.split("+")
    if len(id_parts) == 1:
        return raw[id_parts[0]]
    parts = [raw[c].astype("string").str.strip().replace("", pd.NA) for c in id_parts]
    return parts[0].str.cat(parts[1:], sep=ITEM_ID_SEPARATOR)


def _require(raw: pd.DataFrame, path: Path, needed: list[str], what: str) -> None:
    """That the file has the `needed` columns (named in the error with the ones it has) and rows."""
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise PanelFileError(f"{path}: no column {', '.join(map(repr, missing))}; it has {list(map(str, raw.columns))} "
                             f"(name the {what} with --panel-columns)")
    if raw.empty:
        raise PanelFileError(f"{path}: no rows")


def _read(path: Path, columns: tuple[str, str, str], known: tuple[str, ...] = (),
          sheet: str | None = None, encoding: str = "utf-8") -> tuple[pd.DataFrame, _Place, np.ndarray]:
    """The three columns (the id's parts joined) and the `known` ones, where the file's rows
    are (`_read_file`) and each row's position in the file."""
    needed = (*columns[0].split("+"), *columns[1:], *known)
    raw, place = _read_file(path, sheet, needed, encoding)
    _require(raw, path, list(needed), "id, date and quantity columns")
    out = raw[[*columns[1:], *known]].copy()
    out.insert(0, columns[0], _ids(raw, columns[0]))
    return out, place, np.arange(len(raw))


def _read_wide(path: Path, id_spec: str, periods: str, first_date: date | None, granularity: str,
               date_format: str | None, sheet: str | None = None,
               encoding: str = "utf-8") -> tuple[pd.DataFrame, _Place, np.ndarray]:
    """A wide file's filled cells as rows of (id, date, quantity, the cell's column), by the
    build's rule for a wide sales source (`darkhorse.core.wide`: a blank cell is no row), where
    the file's rows are and each cell's row position in the file."""
    raw, place = _read_file(path, sheet, tuple(id_spec.split("+")), encoding)
    _require(raw, path, id_spec.split("+"), "id column(s)")
    names = period_columns([str(c) for c in raw.columns], periods)
    if not names:
        raise PanelFileError(f"{path}: no column matches --panel-wide {periods!r}; it has {list(map(str, raw.columns))[:12]}")
    clash = [c for c in id_spec.split("+") if c in names]
    if clash:
        raise PanelFileError(f"{path}: --panel-wide {periods!r} also matches the id column(s) {clash}")
    if first_date is not None:
        try:
            dated = {c: pd.Timestamp(d) for c, d in period_dates(names, first_date, step_days(granularity)).items()}
        except WideLayoutError as e:
            raise PanelFileError(f"{path}: {e}") from None
    else:
        parsed = pd.to_datetime(pd.Series(names), errors="coerce", format=date_format or "ISO8601")
        if parsed.isna().any():
            bad = names[int(np.flatnonzero(parsed.isna().to_numpy())[0])]
            raise PanelFileError(f"{path}: period column {bad!r} is not a date ({date_format or 'ISO 8601'}); "
                                 "without --panel-first-date each period column's name is its date")
        dated = dict(zip(names, parsed, strict=True))
    cells = raw[names].astype("string").to_numpy(dtype=object, na_value=None)
    text = pd.DataFrame(cells).stack(future_stack=True)  # (row, column position) -> cell text or None
    text = text[text.notna() & (text.astype("string").str.strip() != "")]
    rows = text.index.get_level_values(0).to_numpy()
    at = text.index.get_level_values(1).to_numpy()  # each cell's period column, by position in `names`
    out = pd.DataFrame({id_spec: _ids(raw, id_spec).to_numpy()[rows],
                        "date": pd.DatetimeIndex([dated[c] for c in names])[at],
                        "quantity": text.to_numpy(), WIDE_CELL: np.asarray(names, dtype=object)[at]})
    return out, place, rows


def _first(raw: pd.DataFrame, place, rows_in_file, mask: np.ndarray, col: str, shown: str | None = None) -> str:
    """Where the first row of `mask` is and what its `col` holds: `FILE: line N, column 'C': 'v'`
    (`shown`: the column named, where it is not `col`)."""
    i = int(np.flatnonzero(mask)[0])
    return f"{place.of(int(rows_in_file[i]))}, column {(shown or col)!r}: {_shown(raw[col].iloc[i])}"


def _shown(value) -> str:
    return "an empty field" if pd.isna(value) else repr(str(value))


def _numbers(column: pd.Series, decimal: str = ".", thousands: str | None = None, *, flags: bool = False) -> np.ndarray:
    """A column's numbers (NaN where a cell is not one). `flags`: a known-future column, whose
    true/false, yes/no and y/n read as 1/0, by the build's rule (macro flag_number)."""
    if (decimal != "." or thousands or flags) and not pd.api.types.is_numeric_dtype(column):
        # text with a decimal comma or digit grouping, or a flag's words, read by the build's rules
        # (macros number_text and flag_number)
        expr = number_text("v", decimal, thousands)
        con = duckdb.connect()
        try:
            con.register("cells", pd.DataFrame({"v": column.astype("string").to_numpy(dtype=object, na_value=None)}))
            column = con.sql(f"select {flag_number(f'cast({expr} as varchar)') if flags else expr} as v from cells").df()["v"]
        finally:
            con.close()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _parse(raw: pd.DataFrame, columns: tuple[str, str, str], known: tuple[str, ...] = (),
           decimal: str = ".", thousands: str | None = None,
           date_format: str | None = None) -> tuple[pd.Series, np.ndarray, pd.DataFrame, list[tuple[str, str, np.ndarray]]]:
    """The rows' dates, quantities and known-future values (NaN where not one), and (reason,
    column, mask) of each kind of bad row, in the build's quarantine reasons (README, "One
    quarantine policy for bad values")."""
    id_col, date_col, y_col = columns
    ids = raw[id_col]
    if pd.api.types.is_datetime64_any_dtype(raw[date_col]):
        day = pd.to_datetime(raw[date_col])
    else:
        # ISO 8601 unless a format is given: a guess would read 05/02/2010 as May or February; a
        # value with its own offset is read at it, as the build does, others as UTC
        day = pd.to_datetime(raw[date_col].astype("string"), errors="coerce", format=date_format or "ISO8601", utc=True)
    if day.dt.tz is not None:
        day = day.dt.tz_convert("UTC").dt.tz_localize(None)
    y = _numbers(raw[y_col], decimal, thousands)
    missing_y = raw[y_col].isna().to_numpy()
    values = pd.DataFrame({c: _numbers(raw[c], decimal, thousands, flags=True) for c in known}, index=raw.index)
    return day, y, values, [
        ("missing_item_id", id_col, ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()),
        ("missing_timestamp", date_col, raw[date_col].isna().to_numpy()),
        ("unparseable_timestamp", date_col, day.isna().to_numpy() & raw[date_col].notna().to_numpy()),
        ("missing_quantity", y_col, missing_y),
        ("unparseable_quantity", y_col, ~missing_y & ~np.isfinite(y)),
        ("negative_quantity", y_col, np.isfinite(y) & (y < 0)),
    ]


def _unreadable_known(raw: pd.DataFrame, values: pd.DataFrame, keep: np.ndarray, place, rows_in_file) -> dict[str, dict]:
    """Per known-future column: the kept rows whose value is written but not a number (nor a flag's
    word), its count and first line. The build reads such a value as none that week and keeps the
    row (its quantity is good), and so does the panel file; a column none of whose values reads is
    refused: it holds no plan at all."""
    out = {}
    for c in values.columns:
        written = raw[c].notna().to_numpy() & keep
        mask = written & ~np.isfinite(values[c].to_numpy())
        if not mask.any():
            continue
        first = _first(raw, place, rows_in_file, mask, c)
        if mask.sum() == written.sum():
            raise PanelFileError(f"--panel-known {c}: no value of the column is a number or a yes/no flag (first {first})")
        out[c] = {"rows": int(mask.sum()), "first": first}
    return out


def read_panel_file(path: Path, panel: PanelConfig, *, columns: tuple[str, str, str] = DEFAULT_COLUMNS,
                    name: str | None = None, max_set_aside: float = 0.1, known: dict[str, str] | None = None,
                    date_format: str | None = None, granularity: str = "weekly",
                    wide: tuple[str, date | None] | None = None, sheet: str | None = None,
                    decimal: str = ".", thousands: str | None = None, encoding: str = "utf-8") -> Panel:
    """A `Panel` named `name` (default: `panel_name`) of the weekly series in `path` (module
    docstring). Bad rows are set aside like the build's quarantine: reported with their reason,
    count and first line, and refused above `max_set_aside` of the rows (the build's
    `gate.max_quarantined_share`). `known`: known-future columns and their weekly aggregate
    (`parse_known`), read by the members that use known-future covariates at the target week.
    `granularity`: `weekly` (a row is a complete week, whatever day dates it) or `daily` (rows are
    days: the file's first and last week are left out where its dates cover them only in part).
    `wide`: (glob of the period columns, date of the first one or None) of a file of one row per
    series and one column per period (`columns[0]` names the id; module docstring). `sheet`: a
    workbook's sheet to read (default: its first holding a cell). `decimal`, `thousands`: the
    separators of numbers written as text (`1.234,5`), as a CSV source of the build declares them;
    `encoding`: a CSV file's text encoding (`utf-8`, `latin-1`, `utf-16`), as a CSV source's."""
    if encoding not in ENCODINGS:
        raise PanelFileError(f"--panel-encoding {encoding!r}: choose from {', '.join(ENCODINGS)}")
    if decimal not in DECIMAL_SEPARATORS or (thousands is not None and thousands not in THOUSANDS_SEPARATORS):
        raise PanelFileError(f"--panel-decimal {decimal!r} / --panel-thousands {thousands!r}: the decimal separator is "
                             f"one of {DECIMAL_SEPARATORS}, the grouping one of {THOUSANDS_SEPARATORS}, as a CSV source's")
    if thousands == decimal:
        raise PanelFileError(f"--panel-thousands and --panel-decimal are both {decimal!r}")
    if granularity not in GRANULARITIES:
        raise PanelFileError(f"granularity {granularity!r}: choose from {', '.join(GRANULARITIES)}")
    path = Path(path)
    if panel.week_start != "monday":
        raise PanelFileError(f"panel.week_start {panel.week_start!r}: the suite's panels run Monday to Sunday")
    name = name or panel_name(path, set())
    known = dict(known or {})
    if wide is not None:
        if known:
            raise PanelFileError("--panel-known needs a row per series and date; a wide file has one cell per period")
        raw, place, rows_in_file = _read_wide(path, columns[0], wide[0], wide[1], granularity, date_format, sheet, encoding)
        columns = (columns[0], "date", "quantity")
    else:
        raw, place, rows_in_file = _read(path, columns, tuple(known), sheet, encoding)
    day, y, values, checks = _parse(raw, columns, tuple(known), decimal, thousands, date_format)
    bad = np.zeros(len(raw), dtype=bool)
    reasons = {}
    for reason, col, mask in checks:
        mask = mask & ~bad  # a row counts once, for its first reason
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            shown = raw[WIDE_CELL].iloc[i] if wide is not None and col == "quantity" else col  # a wide file: the cell's column
            reasons[reason] = {"rows": int(mask.sum()), "first": _first(raw, place, rows_in_file, mask, col, shown)}
            bad |= mask
    said = "; ".join(f"{r}: {v['rows']:,} (first {v['first']})" for r, v in reasons.items())
    if bad.mean() > max_set_aside:
        hint = (f" (dates are read as {date_format!r}: --panel-date-format)" if date_format else
                " (dates are read as ISO 8601, e.g. 2024-01-31: give another format with --panel-date-format)"
                ) if "unparseable_timestamp" in reasons else ""
        raise PanelFileError(f"{path}: {int(bad.sum()):,} of {len(raw):,} rows are bad, above the {max_set_aside:.0%} "
                             f"the build would publish (gate.max_quarantined_share): {said}{hint}")
    if reasons:
        log.warning("%s: %s of %s rows set aside: %s", path, f"{int(bad.sum()):,}", f"{len(raw):,}", said)
    keep = ~bad
    if not keep.any():
        raise PanelFileError(f"{path}: no good rows: {said}")
    partial = partial_weeks(day[keep])
    if granularity == "daily" and partial:
        log.info("%s: daily rows: the partial week(s) %s left out (the file's dates cover them only in part)",
                 path, ", ".join(str(w.date()) for w in partial))
        keep = keep & ~monday_of(day).isin(partial).to_numpy()
        if not keep.any():
            raise PanelFileError(f"{path}: no complete week: the daily rows cover only part of {len(partial)} week(s)")
    elif partial and _several_dates_a_week(raw[columns[0]][keep].astype(str), day[keep]):
        log.warning("%s: a series holds several dates in one week (daily rows?) and the file's dates cover the "
                    "week(s) %s only in part; they are scored as complete weeks: --panel-granularity daily leaves "
                    "them out, as the build does with a daily source", path, ", ".join(str(w.date()) for w in partial))
    rows = pd.DataFrame({ID: raw[columns[0]][keep].astype(str), DS: monday_of(day[keep]), Y: y[keep]})
    frame = dense(rows, rows[DS].max())
    # too few weeks for the suite's windows: the backtest's own error (`plan_cutoffs`) says so
    weeks = int((frame[DS].max() - frame[DS].min()) / pd.Timedelta(weeks=1)) + 1
    # an id of several columns (store+dept): each part is a grouping of the series (training.groups)
    id_parts = columns[0].split("+")
    groups = groups_from_ids(frame[ID].unique(), ITEM_ID_SEPARATOR, id_parts) if len(id_parts) > 1 else None
    h = history_from_frame(frame, panel, snapshot=f"panel_file:{path}", groups=groups)
    unreadable = _unreadable_known(raw, values, keep, place, rows_in_file)  # {} without known columns
    if unreadable:
        log.warning("%s: %s: read as no value that week and filled (the rows kept)", path, "; ".join(
            f"{v['rows']:,} rows' {c} not a number (first {v['first']})" for c, v in unreadable.items()))
    if known:
        h = _with_known(h, pd.concat([rows[[ID, DS]], values[keep]], axis=1), known)
    n_series, zero = frame[ID].nunique(), float((frame[Y] == 0).mean())
    aside = ", ".join(f"{r} {v['rows']:,}" for r, v in reasons.items())
    return Panel(name, h, panel,
                 f"{path.name}: {n_series:,} series x {weeks} weeks ({len(raw):,} {'cells' if wide else 'rows'} read"
                 + (f", {int(bad.sum()):,} set aside: {aside}" if reasons else "")
                 + f"), {zero:.0%} zero weeks" + (f", known ahead: {', '.join(known)}" if known else ""),
                 {"panel_file": str(path), "rows_read": len(raw), "set_aside": reasons, "known_future": known,
                  "known_unreadable": unreadable,
                  "granularity": granularity, "sheet": sheet, "decimal": decimal, "thousands": thousands, "encoding": encoding, "wide": {"periods": wide[0], "first_date": wide[1] and str(wide[1])} if wide else None,
                  "partial_weeks_left_out": [str(w.date()) for w in partial] if granularity == "daily" else []})


def partial_weeks(day: pd.Series) -> list[pd.Timestamp]:
    """The Mondays of the first and last week of `day` that its dates cover only in part: a first
    date after the Monday of its week, a last date before the Sunday of its week."""
    first, last = day.min().normalize(), day.max().normalize()
    monday = monday_of(pd.Series([first, last]))
    out = {monday[0]} if first.weekday() != 0 else set()
    if last.weekday() != 6:
        out.add(monday[1])
    return sorted(out)


def _several_dates_a_week(ids: pd.Series, day: pd.Series) -> bool:
    """Whether a series holds two dates in one week: rows finer than weeks."""
    dated = pd.DataFrame({ID: ids.to_numpy(), DS: monday_of(day).to_numpy(), "day": day.dt.normalize().to_numpy()})
    return bool(dated.groupby([ID, DS])["day"].nunique().gt(1).any())


def _with_known(h: History, values: pd.DataFrame, known: dict[str, str]) -> History:
    """`h` with the known-future columns of `values` (`unique_id, ds` + one column each, a row per
    file row), aggregated per series and week, in its frame and as its `known_future` (the panel's
    weeks: every origin of the suite has its horizon inside them). A week without a value (no row,
    or an empty cell) is filled as the build fills a source's known-future column
    (`KNOWN_FUTURE_DEFAULT_FILL` of its aggregate): a mean carries the series' last value forward
    (before its first one, the first one; never known, 0), a max or a sum is 0 (no promotion)."""
    g = values.groupby([ID, DS], sort=False)
    weekly = pd.concat([g[c].sum(min_count=1) if agg == "sum" else g[c].agg(agg) for c, agg in known.items()], axis=1).reset_index()
    frame = h.frame.merge(weekly, on=[ID, DS], how="left", validate="one_to_one").sort_values([ID, DS], ignore_index=True)
    for c, agg in known.items():
        if KNOWN_FUTURE_DEFAULT_FILL[agg] == "carry_forward":
            frame[c] = frame.groupby(ID, sort=False)[c].ffill()
            frame[c] = frame.groupby(ID, sort=False)[c].bfill()
        frame[c] = frame[c].fillna(0.0)
    return dataclasses.replace(h, frame=frame, covariates=list(known), known_future=frame[[ID, DS, *known]].copy())
