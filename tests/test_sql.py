"""The SQL that Python builds for raw files agrees with the dbt macros that dbt builds it with.

The preflight and the gate read raw files and parse timestamps as dbt's staging models do;
both sides are generated from one definition each (darkhorse/core/sql.py and
dbt_project/macros/), so these tests render the macros with Jinja and compare the SQL text,
then run it in DuckDB.
"""

from __future__ import annotations

import duckdb
import jinja2
import pytest

from darkhorse.core import sql
from tests.conftest import REPO

MACROS = REPO / "dbt_project" / "macros"


def _macro(name: str, **context):
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = env.from_string((MACROS / f"{name}.sql").read_text())
    module = template.make_module(vars=context)
    return getattr(module, name)


@pytest.mark.parametrize(
    "fmt, tz",
    [(None, "UTC"), ("%Y-%m-%d %H:%M:%S", "UTC"), ("%d/%m/%Y %H:%M", None), ("%Y-%m-%d", "Europe/London"), (None, "America/New_York"),
     (None, None), ("%Y-%m-%d %H:%M:%S%z", "Europe/London")],
)
def test_parse_timestamp_is_the_dbt_macro(fmt, tz) -> None:
    macro = _macro("parse_timestamp")
    assert sql.parse_timestamp('"InvoiceDate"', fmt, tz) == str(macro('"InvoiceDate"', fmt, tz)).strip()


def test_parse_timestamp_parses_and_converts() -> None:
    con = duckdb.connect()
    got = con.sql(
        f"select {sql.parse_timestamp(sql.sql_str('2011-06-01 12:00'), '%Y-%m-%d %H:%M', 'Europe/London')}, "
        f"{sql.parse_timestamp(sql.sql_str('not a date'))}"
    ).fetchall()[0]
    assert str(got[0]) == "2011-06-01 11:00:00"  # BST is UTC+1
    assert got[1] is None


@pytest.mark.parametrize("fmt, encoding", [("parquet", "utf-8"), ("csv", "utf-8"), ("csv", "latin-1"), ("csv", "utf-16"),
                                           ("jsonl", "utf-8"), ("excel", "utf-8")])
def test_raw_reader_is_the_dbt_macro(fmt, encoding) -> None:
    files = ["/data/a.parquet", "/data/it's.parquet"]
    src = {"paths": files, "format": fmt, "encoding": encoding}
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = env.from_string((MACROS / "read_raw.sql").read_text())
    module = template.make_module(vars={"raw_source": lambda kind: src, "execute": True})
    rendered = " ".join(str(module.read_raw(fmt)).split())
    assert rendered == " ".join(sql.raw_reader(fmt, files, encoding=encoding).split())


def test_raw_reader_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="source 'shop': unknown format 'xlsx'"):
        sql.raw_reader("xlsx", "a.xlsx", name="shop")  # a workbook's format is excel


def test_wide_cells_and_period_dates_are_the_dbt_macros() -> None:
    wide = {"regex": "W.*", "number_pattern": r"(\d+)\D*$", "first_date": "2023-01-02", "step_days": 7}
    cells = " ".join(str(_macro("wide_cells")("raw", wide)).split())
    assert cells == " ".join(sql.wide_cells("raw", wide["regex"], wide["number_pattern"]).split())
    day = " ".join(str(_macro("wide_period_date")(wide)).split())
    assert day == " ".join(sql.wide_period_date(wide["first_date"], 7, wide["number_pattern"]).split())
    con = duckdb.connect()
    con.sql("create table raw as select * from (values ('a', null, '0', '3', 'x'), ('b', null, '2', 'n/a', 'y')) "
            "as t(id, W1, W2, W3, note)")
    got = con.sql(f"select id, note, period_column, cell, {day} from ({cells}) order by id, period_column").fetchall()
    # W1 is blank throughout and still dates the first week; a blank cell is no row, a zero one is
    assert [(r[0], r[1], r[2], r[3], str(r[4])) for r in got] == [
        ("a", "x", "W2", "0", "2023-01-09"), ("a", "x", "W3", "3", "2023-01-16"),
        ("b", "y", "W2", "2", "2023-01-09"), ("b", "y", "W3", "n/a", "2023-01-16"),
    ]


@pytest.mark.parametrize("decimal, thousands", [(".", None), (",", None), (",", "."), (".", ","), (",", " "), (".", "'")])
def test_number_text_is_the_dbt_macro(decimal, thousands) -> None:
    macro = _macro("number_text")
    assert sql.number_text('"Quantity"', decimal, thousands) == str(macro('"Quantity"', decimal, thousands)).strip()


def test_flag_number_is_the_dbt_macro() -> None:
    assert sql.flag_number('"kf__promo"') == str(_macro("flag_number")('"kf__promo"')).strip()


@pytest.mark.parametrize("text, number", [
    ("3.5", 3.5), ("TRUE", 1.0), (" yes ", 1.0), ("Y", 1.0), ("False", 0.0), ("no", 0.0), ("n", 0.0),
    ("maybe", None), ("", None),
])
def test_flag_number_reads_numbers_and_yes_no_words(text, number) -> None:
    assert duckdb.sql(f"select {sql.flag_number(sql.sql_str(text))}").fetchone()[0] == number


@pytest.mark.parametrize("text, decimal, thousands, number", [
    ("1.234,5", ",", ".", 1234.5),
    ("1234,5", ",", None, 1234.5),
    ("1.500", ",", None, None),  # a point with a decimal comma and no grouping declared: not 1.5
    ("1,234.5", ".", ",", 1234.5),
    ("1 234", ",", " ", 1234.0),
    ("1'234.50", ".", "'", 1234.5),
    ("-3,25", ",", ".", -3.25),
    ("1,5", ".", None, None),  # the default reads a decimal comma as unparseable, as before
    (" 7 ", ".", None, 7.0),
])
def test_number_text_reads_the_separators(text, decimal, thousands, number) -> None:
    got = duckdb.sql(f"select try_cast({sql.number_text(sql.sql_str(text), decimal, thousands)} as double)").fetchone()[0]
    assert got == number


@pytest.mark.parametrize("text, fmt, tz, utc", [
    ("2023-01-05T10:22:11+01:00", None, "UTC", "2023-01-05 09:22:11"),  # read at its own offset, not as 10:22 UTC
    ("2023-01-05 10:22:11.5-05:00", None, "UTC", "2023-01-05 15:22:11.500000"),
    ("2023-01-05 10:22:11 +0100", None, "UTC", "2023-01-05 09:22:11"),
    ("2023-01-05T10:22:11Z", None, "Europe/London", "2023-01-05 10:22:11"),  # Z is UTC whatever the source's zone
    ("2023-07-05T10:22:11+02", None, "UTC", "2023-07-05 08:22:11"),
    ("2023-07-05 10:22:11", None, "Europe/London", "2023-07-05 09:22:11"),  # no offset: the source's zone (BST)
    ("2023-01-05", None, "UTC", "2023-01-05 00:00:00"),  # a date's -05 is its day, not an offset
    ("05/01/2023 10:22 +0100", "%d/%m/%Y %H:%M %z", "America/New_York", "2023-01-05 09:22:00"),
    ("not a time", None, "UTC", None),
])
def test_parse_timestamp_reads_an_offset_the_value_carries(text, fmt, tz, utc) -> None:
    got = duckdb.sql(f"select {sql.parse_timestamp(sql.sql_str(text), fmt, tz)}").fetchone()[0]
    assert (None if got is None else str(got)) == utc
