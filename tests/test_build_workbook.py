"""Spreadsheet workbooks as sources: read by one rule (darkhorse.core.workbook: every cell as
the text a CSV export would hold), copied as text for dbt (darkhorse/app/workbooks.py), so a
workbook builds the panel its CSV export builds."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta

import duckdb
import openpyxl
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from darkhorse.app.build import build
from darkhorse.app.cli import app
from darkhorse.app.preflight import SourceError, preflight
from darkhorse.app.workbooks import copy_name, copy_workbooks
from darkhorse.core.config import ConfigError, load_config
from darkhorse.core.workbook import WorkbookError, cell_text, read_workbook
from tests.conftest import REPO, write_config

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def _lines() -> list[list[object]]:
    """Order lines as a spreadsheet types them: numeric codes and quantities as numbers, the
    invoice date a date-time cell, a blank customer, a cancellation, one quantity typed as text
    that is not a number."""
    rows: list[list[object]] = []
    start = datetime(2011, 1, 3, 9, 30)
    for week in range(16):
        for k, code in enumerate([85123, "85123A", 22423, 47566, 84879]):
            qty = (week + 1) * (k + 1) if code != 47566 else 3 + week % 4
            stamp = start + timedelta(days=7 * week + k % 5, hours=k)
            rows.append([536365 + week * 10 + k, code, f"item {code}", qty, stamp, 2.55,
                         17850.0 if k % 2 else None, "United Kingdom"])
    rows.append(["C536999", 85123, "item 85123", -2, datetime(2011, 2, 1, 10, 0), 2.55, 17850.0, "United Kingdom"])
    rows.append([537000, 22423, "item 22423", "twelve", datetime(2011, 2, 2, 10, 0), 12.75, None, "France"])
    return rows


def _workbook(path, sheets: dict[str, list[list[object]]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def _csv_text(rows: list[list[object]]) -> pd.DataFrame:
    """The rows as a CSV export writes them (the rule's text of each cell)."""
    return pd.DataFrame([[cell_text(v) for v in r] for r in rows], columns=HEADER)


def _weeks(cfg) -> pd.DataFrame:
    return duckdb.sql(
        f"select item_id, week_start, units, revenue from read_parquet('{cfg.marts_dir}/item_weeks.parquet') "
        "order by item_id, week_start"
    ).df()


def test_cell_text_rule():
    assert cell_text(None) is None and cell_text("") is None
    assert cell_text(85123.0) == "85123"  # a spreadsheet stores item codes as floats
    assert cell_text(2.55) == "2.55" and cell_text(1e-7) == "1e-07" and cell_text(2.0**60) == "1.152921504606847e+18"
    assert cell_text(7) == "7" and cell_text(True) == "true"
    assert cell_text(datetime(2011, 1, 3, 9, 30)) == "2011-01-03 09:30:00"
    assert cell_text(datetime(2011, 1, 3, 9, 30), "%d/%m/%Y %H:%M") == "03/01/2011 09:30"
    assert cell_text(date(2011, 1, 3)) == "2011-01-03" and cell_text(date(2011, 1, 3), "%m/%d/%Y") == "01/03/2011"
    assert cell_text(time(9, 30)) == "09:30:00"
    assert cell_text("C536379") == "C536379"


def test_read_workbook_numbers_rows_as_the_spreadsheet_does(tmp_path):
    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sales"
    # the table starts at B3; a blank header cell, a repeated one, dates typed in the header
    sheet["B3"], sheet["C3"], sheet["E3"], sheet["F3"] = "sku", "units", "units", datetime(2023, 1, 2)
    sheet["B4"], sheet["C4"], sheet["D4"], sheet["F4"] = 15034, 27.0, "x", 4
    sheet["B6"], sheet["C6"] = "85123A", 1.5  # row 5 is blank
    book.create_sheet("Empty")
    book.save(path)

    sheets = read_workbook(path, header_date_format="%d.%m.%Y")
    assert [s.name for s in sheets] == ["Sales"]  # a sheet without a cell is not a table
    frame = sheets[0].frame
    assert list(frame.columns) == ["sku", "units", "column_D", "units_1", "02.01.2023"]
    assert sheets[0].first_row == 4
    filled = sheets[0].filled()
    assert list(filled.index) == [4, 6]
    assert filled.loc[4].tolist() == ["15034", "27", "x", None, "4"]
    assert filled.loc[6, "sku"] == "85123A" and filled.loc[6, "units"] == "1.5"
    assert read_workbook(path, sheets=["Empty"])[0].frame.empty  # named, it is read (and empty)
    with pytest.raises(WorkbookError, match=r"book.xlsx: no sheet 'Year 2011'; its sheets are \['Sales', 'Empty'\]"):
        read_workbook(path, sheets=["Year 2011"])
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(WorkbookError, match=r"cut.xlsx: cannot be read as a workbook .*is it whole"):
        read_workbook(cut)


@pytest.mark.integration
def test_a_workbook_builds_the_panel_of_its_csv_export(tmp_path):
    rows = _lines()
    half = len(rows) // 2
    book = tmp_path / "xl" / "Online Retail.xlsx"
    book.parent.mkdir()
    # a notes sheet first, the lines over two sheets (as UCI's Online Retail II splits its years),
    # the second with a column of its own
    later = [[*r, "checked" if i == 0 else None] for i, r in enumerate(rows[half:])]
    _workbook(book, {"Notes": [["exported 2011-05-01"]], "Year 2010": [HEADER, *rows[:half], []],
                     "Year 2011": [[*HEADER, "Note"], *later]})
    csv = tmp_path / "csv" / "online_retail.csv"
    csv.parent.mkdir()
    _csv_text(rows).to_csv(csv, index=False)

    xl_cfg = write_config(tmp_path / "xl", [{"name": "shop", "kind": "order_lines", "path": str(book)}],
                          panel={"horizon_weeks": 4})
    csv_cfg = write_config(tmp_path / "csv", [{"name": "shop", "kind": "order_lines", "path": str(csv)}],
                           panel={"horizon_weeks": 4})
    notes = preflight(xl_cfg)[0].notes
    assert notes == [f"workbook Online Retail.xlsx: {len(rows)} rows read from sheet(s) 'Year 2010', 'Year 2011'; "
                     "sheet(s) 'Notes' passed over (without the mapped columns)"]
    xl = build(xl_cfg, features=False)
    plain = build(csv_cfg, features=False)

    assert xl["gate"]["success"]
    assert xl["panel"] == plain["panel"]
    assert xl["sources"]["shop"]["reasons"] == plain["sources"]["shop"]["reasons"]
    assert xl["sources"]["shop"]["reasons"]["unparseable_quantity"] == 1
    pd.testing.assert_frame_equal(_weeks(xl_cfg), _weeks(csv_cfg))
    assert set(_weeks(xl_cfg)["item_id"]) == {"85123", "85123A", "22423", "47566", "84879"}  # not 85123.0
    where = duckdb.sql(
        f"select source_file from read_parquet('{xl_cfg.marts_dir}/quarantined_events.parquet')"
    ).fetchall()
    assert where == [(f"{book} sheet 'Year 2011' row {len(rows) - half + 1}",)]  # the bad cell's own row


@pytest.mark.integration
def test_typed_dates_follow_the_declared_format_and_named_sheets(tmp_path):
    rows = _lines()[:40]
    # half the dates typed as text in the declared format, as a hand-edited sheet mixes them
    for r in rows[::2]:
        r[4] = r[4].strftime("%d/%m/%Y %H:%M")
    book = tmp_path / "lines.xlsx"
    _workbook(book, {"Lines": [HEADER, *rows], "Lines (old)": [HEADER, *_lines()[40:]]})
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(book),
                                   "timestamp_format": "%d/%m/%Y %H:%M", "sheets": ["Lines"]}],
                       panel={"horizon_weeks": 4})
    summary = build(cfg, features=False)
    assert summary["sources"]["shop"]["read"] == 40
    assert summary["sources"]["shop"]["quarantined"] == 0  # every date parsed, typed or text


def test_workbook_copies_are_kept_refreshed_and_removed(tmp_path):
    for name in ("a", "b"):
        _workbook(tmp_path / f"{name}.xlsx", {"S": [["sku", "day", "units"], ["P1", datetime(2023, 1, 2), 3]]})
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(tmp_path / "*.xlsx"),
                                   "columns": {"item_id": "sku", "date": "day", "quantity": "units"}}])
    files = sorted(str(p) for p in tmp_path.glob("*.xlsx"))
    assert copy_workbooks(cfg, cfg.sources[0], files)[1] == [
        "workbook a.xlsx: 1 rows read from sheet(s) 'S'", "workbook b.xlsx: 1 rows read from sheet(s) 'S'"]
    assert copy_workbooks(cfg, cfg.sources[0], files)[1] == [
        "workbook a.xlsx: unchanged, its text copy reused", "workbook b.xlsx: unchanged, its text copy reused"]
    _workbook(tmp_path / "a.xlsx", {"S": [["sku", "day", "units"], ["P1", datetime(2023, 1, 2), 3], ["P2", None, 1]]})
    stat = os.stat(tmp_path / "a.xlsx")
    os.utime(tmp_path / "a.xlsx", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert copy_workbooks(cfg, cfg.sources[0], files)[1][0] == "workbook a.xlsx: 2 rows read from sheet(s) 'S'"
    (tmp_path / "b.xlsx").unlink()
    copy_workbooks(cfg, cfg.sources[0], files[:1])
    assert [p.name for p in cfg.workbook_dir(cfg.sources[0]).iterdir()] == [copy_name(files[0])]
    assert (tmp_path / "a.xlsx").read_bytes()[:2] == b"PK"  # the workbook itself untouched


def test_preflight_and_config_refuse_unusable_workbooks(tmp_path):
    book = tmp_path / "lines.xlsx"
    _workbook(book, {"Notes": [["read me"]], "Lines": [HEADER[:4], [536365, 85123, "x", 6]]})

    def config(**extra):
        return write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(book), **extra}])

    with pytest.raises(SourceError, match=r"lines.xlsx: no sheet has the mapped column\(s\) .*'Lines': \['InvoiceNo', "
                                          r"'StockCode', 'Description', 'Quantity'\]"):
        preflight(config())
    with pytest.raises(SourceError, match=r"sheet 'Lines' has no column 'InvoiceDate', 'UnitPrice', 'CustomerID'"):
        preflight(config(sheets=["Lines"]))
    with pytest.raises(SourceError, match=r"source 'shop': .*lines.xlsx: no sheet 'Year 2011'"):
        preflight(config(sheets=["Year 2011"]))
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(book.read_bytes()[:-100])
    with pytest.raises(SourceError, match=r"source 'shop': .*cut.xlsx: cannot be read as a workbook"):
        preflight(write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(cut)}]))
    with pytest.raises(ConfigError, match="sheets: is for workbooks"):
        write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": "lines.csv", "sheets": ["A"]}])
    with pytest.raises(ConfigError, match="a review source reads JSON Lines"):
        write_config(tmp_path, [{"name": "r", "kind": "amazon_reviews", "path": "reviews.xlsx"}])


@pytest.mark.integration
def test_a_wide_workbook_with_dates_in_its_header(tmp_path):
    days = [datetime(2023, 1, 1) + timedelta(weeks=w) for w in range(10)]  # Sundays, typed as dates
    rows = [["Product_Code", *days], *[[f"P{i}", *[(i + w) % 5 for w in range(10)]] for i in range(6)]]
    book = tmp_path / "pivot.xlsx"
    _workbook(book, {"Pivot": rows})
    cfg = write_config(tmp_path, [{"name": "pivot", "kind": "sales", "path": str(book), "granularity": "weekly",
                                   "columns": {"item_id": "Product_Code"}, "wide": {"periods": "2023-*"}}],
                       panel={"horizon_weeks": 2})
    assert preflight(cfg)[0].notes[-1] == "10 period columns read as weekly periods from 2023-01-01 to 2023-03-05"
    summary = build(cfg, features=False)
    assert summary["panel"]["items"] == 6
    assert summary["sources"]["pivot"]["read"] == 60


@pytest.mark.integration
def test_darkhorse_dbt_reads_the_workbook_s_current_copy(tmp_path):
    book = tmp_path / "lines.xlsx"
    _workbook(book, {"Lines": [HEADER, *_lines()]})
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(book)}])
    result = CliRunner().invoke(app, ["dbt", "--config", str(cfg.path), "run", "-s", "stg_order_lines__lines"])
    assert result.exit_code == 0, result.output
    assert (cfg.workbook_dir(cfg.sources[0]) / copy_name(str(book))).is_file()
    rows = duckdb.connect(str(cfg.duckdb_path), read_only=True).sql(
        "select count(*), count(distinct source_file) from stg_order_lines__lines").fetchone()
    assert rows == (len(_lines()), len(_lines()))  # every line, each named by its own row


@pytest.mark.integration
def test_a_request_log_workbook_builds_the_interval_panel_of_its_csv(tmp_path):
    """Three days of the shipped ELB trace typed into a workbook (date-time and number cells):
    the interval panel tests/test_load_only_build.py builds from the CSV."""
    trace = pd.read_csv(REPO / "data" / "raw" / "request_load" / "elb_request_count_8c0756.csv").head(864)
    book = tmp_path / "elb.xlsx"
    _workbook(book, {"elb": [["timestamp", "value"],
                             *([pd.Timestamp(t).to_pydatetime(), v] for t, v in trace.itertuples(index=False))]})
    cfg = write_config(tmp_path, [{"name": "lb", "kind": "request_log", "path": str(book),
                                   "columns": {"timestamp": "timestamp", "count": "value"}}])
    doc = cfg.model_dump(mode="json")
    doc["load"] = {"grain": "15min", "lookback_intervals": 4}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    summary = build(load_config(tmp_path / "darkhorse.yaml"), features=False)
    assert summary["load_panel"] == {"rows": 287, "series": 1, "first_interval": "2014-04-10 00:15:00+00:00",
                                     "last_interval": "2014-04-12 23:45:00+00:00"}
