"""The shipped real data (UCI Online Retail) built end to end, checked against the raw file."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from benchmarks.accuracy import panels as P
from darkhorse.core.config import load_config
from darkhorse.core.features import apply
from darkhorse.core.schema import DS, ID
from tests.conftest import REPO
from tests.fixtures.online_retail import RAW

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(online_retail_built):
    """The session's build of the shipped file (tests/fixtures/online_retail.py)."""
    return online_retail_built.config, online_retail_built.summary


def test_rows_read_kept_and_set_aside_add_up(built):
    _, summary = built
    s = summary["sources"]["online_retail"]
    assert s["read"] == 541_909
    assert s["read"] == s["kept"] + s["quarantined"] + s["outside_complete_weeks"]
    assert set(s["reasons"]) <= {"duplicate", "non_product_code", "partial_first_week", "partial_last_week"}
    assert s["reasons"]["non_product_code"] > 0 and s["reasons"]["duplicate"] > 0


def test_units_match_an_independent_computation_from_the_raw_file(built):
    cfg, summary = built
    first, last = summary["calendar"]["first_complete_week"], summary["calendar"]["last_complete_week"]
    codes = load_config(REPO / "darkhorse.yaml").sources[0].non_product_codes
    exact = [c for c in codes if "*" not in c]
    raw = duckdb.sql(
        f"""
        with lines as (
            select distinct InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID
            from read_parquet('{RAW}')
        )
        select sum(cast(Quantity as double))
        from lines
        where not starts_with(InvoiceNo, 'C') and cast(Quantity as double) > 0
          and StockCode not in ({", ".join(repr(c) for c in exact)})
          and StockCode not like 'gift_0001_%'
          and cast(date_trunc('week', strptime(InvoiceDate, '%Y-%m-%d %H:%M:%S')) as date)
              between date '{first}' and date '{last}'
        """
    ).fetchall()[0][0]
    panel = duckdb.sql(f"select sum(units) from read_parquet('{cfg.marts_dir}/item_weeks.parquet')").fetchall()[0][0]
    assert panel == pytest.approx(raw)


def test_panel_is_dense_and_weeks_are_complete(built):
    cfg, summary = built
    last = summary["calendar"]["last_complete_week"]
    gaps = duckdb.sql(
        f"""
        select count(*) from (
            select item_id, count(*) as n, min(week_start) as first_week, max(week_start) as last_week
            from read_parquet('{cfg.marts_dir}/item_weeks.parquet') group by item_id
        ) where n != datediff('week', first_week, last_week) + 1 or last_week != date '{last}'
        """
    ).fetchall()[0][0]
    assert gaps == 0
    # the data runs 2010-12-01 (a Wednesday) to 2011-12-09 (a Friday): both end weeks are partial
    assert summary["calendar"]["first_complete_week"] == "2010-12-06"
    assert summary["calendar"]["last_complete_week"] == "2011-11-28"


def test_label_prevalence_is_the_top_five_percent_of_eligible_items(built):
    _, summary = built
    labels = summary["labels"]
    # 52 complete weeks, horizon 12: 40 origins have a known future
    assert labels["weeks_with_known_label"] == 40
    for w in labels["per_week"]:
        share = w["hot_sellers"] / w["candidates"]
        assert 0.05 <= share < 0.06, w


def test_no_label_reaches_past_the_last_complete_week(built):
    cfg, summary = built
    last = summary["calendar"]["last_complete_week"]
    bad = duckdb.sql(
        f"""select count(*) from read_parquet('{cfg.marts_dir}/item_week_labels.parquet')
            where is_label_known and week_start + interval 84 day > date '{last}'"""
    ).fetchall()[0][0]
    assert bad == 0


@pytest.mark.slow
def test_the_suite_s_label_matches_the_dbt_mart(built):
    """The accuracy suite's label (`benchmarks.accuracy.labels.hot_seller_labels`), computed from the
    published Online Retail panel read as the suite reads it (through Feast: registered here, the
    offline store needs no materialize), equals dbt's row for row."""
    cfg, _ = built
    apply(cfg)
    panel = P.online_retail(cfg.path)
    h = panel.history
    mine = P.hot_seller_labels(h.frame, panel.panel)
    both = h.labels.merge(mine, on=[ID, DS], how="outer", suffixes=("_dbt", "_suite"), indicator=True)
    assert (both["_merge"] == "both").all(), both["_merge"].value_counts()
    assert (both["label_dbt"] == both["label_suite"]).all()
    assert np.allclose(both["growth_score_dbt"], both["growth_score_suite"], rtol=1e-9, equal_nan=True)
    assert (both["label_available_at_dbt"] == both["label_available_at_suite"]).all()
    assert both["label_dbt"].sum() > 100
