"""Bring-your-own data: a weekly store x department sales CSV, and a request log beside it."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from darkhorse.app.build import build
from tests.conftest import REPO, write_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sales")
    # weekly rows dated on Fridays, like a retailer's weekly file; ten stores x five departments
    fridays = pd.date_range("2023-01-06", periods=20, freq="7D")
    rows = [
        {"Store": s, "Dept": d, "Date": day.strftime("%Y-%m-%d"), "Weekly_Sales": float(10 * s + d + i)}
        for s in range(1, 11) for d in range(1, 6) for i, day in enumerate(fridays)
    ]
    rows.append(rows[0].copy())                                            # duplicate
    rows.append({"Store": 1, "Dept": 3, "Date": "2023-02-03", "Weekly_Sales": -5.0})   # negative
    rows.append({"Store": 1, "Dept": 3, "Date": "not a date", "Weekly_Sales": 1.0})  # unparseable
    rows.append({"Store": 10, "Dept": 5, "Date": "2023-01-04", "Weekly_Sales": 2.0})  # a second date in a week
    path = tmp / "weekly_sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    sources = [
        {"name": "stores", "kind": "sales", "path": str(path), "granularity": "weekly",
         "columns": {"item_id": ["Store", "Dept"], "date": "Date", "quantity": "Weekly_Sales"}},
        {"name": "elb", "kind": "request_log",
         "path": str(REPO / "data/raw/request_load/elb_request_count_8c0756.csv"),
         "columns": {"timestamp": "timestamp", "count": "value"}},
    ]
    cfg = write_config(tmp, sources, panel={"horizon_weeks": 4})
    return cfg, build(cfg, features=False)


def test_weekly_rows_are_complete_weeks_the_last_one_included(built):
    cfg, summary = built
    # 20 Fridays from 2023-01-06: weeks starting Monday 2023-01-02 .. 2023-05-15, all complete
    assert summary["calendar"]["first_complete_week"] == "2023-01-02"
    assert summary["calendar"]["last_complete_week"] == "2023-05-15"
    assert summary["panel"] == {"rows": 1000, "items": 50, "weeks": 20}
    items = {r[0] for r in duckdb.sql(f"select item_id from read_parquet('{cfg.marts_dir}/items.parquet')").fetchall()}
    assert items == {f"{s}_{d}" for s in range(1, 11) for d in range(1, 6)}
    last = duckdb.sql(
        f"""select units from read_parquet('{cfg.marts_dir}/item_weeks.parquet')
            where item_id = '2_2' and week_start = date '2023-05-15'"""
    ).fetchall()
    assert last == [(22.0 + 19,)]


def test_bad_sales_rows_are_set_aside_by_reason(built):
    _, summary = built
    assert summary["sources"]["stores"]["reasons"] == {
        "duplicate": 1, "negative_quantity": 1, "unparseable_timestamp": 1,
    }
    assert summary["sources"]["stores"]["read"] == 1004
    assert summary["gate"]["success"]


def test_a_weekly_source_with_several_dates_in_an_item_week_is_counted(built):
    # daily rows declared weekly would show here; the extra Wednesday row of item 10_5 is summed into its week
    cfg, summary = built
    assert summary["sources"]["stores"]["weekly_item_weeks_with_several_dates"] == {"item_weeks": 1, "of": 1000}
    first = duckdb.sql(
        f"""select units from read_parquet('{cfg.marts_dir}/item_weeks.parquet')
            where item_id = '10_5' and week_start = date '2023-01-02'"""
    ).fetchall()
    assert first == [(105.0 + 2.0,)]
    assert "weekly_item_weeks_with_several_dates" not in summary["sources"]["elb"]


def test_request_log_is_staged_with_counts(built):
    cfg, _ = built
    con = duckdb.connect(str(cfg.duckdb_path), read_only=True)
    n, total, tz = con.sql(
        "select count(*), sum(requests), any_value(typeof(event_at)) from stg_request_log__requests"
    ).fetchall()[0]
    raw = pd.read_csv(REPO / "data/raw/request_load/elb_request_count_8c0756.csv")
    assert n == len(raw) == 4032
    assert total == pytest.approx(raw["value"].sum())
    assert tz == "TIMESTAMP WITH TIME ZONE"
