"""The Great Expectations gate on a real candidate (the shipped Online Retail data built by dbt
in a tmp dir, once per session: tests/fixtures/online_retail.py) and on copies of it corrupted
one way at a time.

The corrupted candidates are copies of the candidate's Parquet files in tmp; the raw data and
the project's own data folder are never written.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pytest

from darkhorse.core.config import Config, GateConfig, load_config
from expectations.frames import row_count_changes
from tests.conftest import REPO, write_config

if TYPE_CHECKING:
    from expectations.gate import GateResult

MARTS = ("item_weeks", "item_week_labels", "items", "quarantined_events")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def retail(online_retail_built) -> tuple[Config, Path]:
    """The marts dbt built from the shipped Online Retail file, as the candidate: the session's
    build (tests/fixtures/online_retail.py), whose published snapshot the tests only read."""
    return online_retail_built.config, online_retail_built.marts


@pytest.fixture(scope="module")
def clean(retail) -> GateResult:
    cfg, candidate = retail
    return gate(cfg, candidate)


def gate(
    cfg: Config, candidate: Path, previous: dict | None = None, *, duckdb_path: Path | None = None
) -> GateResult:
    """The gate on a candidate; the DuckDB file defaults to the config's (GX loads lazily)."""
    from expectations.gate import run_gate

    return run_gate(
        cfg,
        candidate_marts=candidate,
        duckdb_path=duckdb_path or cfg.duckdb_path,
        previous=previous,
    )


def small_sample(cfg: Config) -> Config:
    """The same config validating only 1,000 raw and staging rows (the marts stay whole)."""
    return cfg.model_copy(update={"gate": GateConfig(sample_rows=1000)})


def corrupted(candidate: Path, dest: Path, mart: str, select: str) -> Path:
    """A copy of the candidate where `mart` is rewritten by `select` (reading `t`)."""
    dest.mkdir(parents=True)
    for m in MARTS:
        if m != mart:
            shutil.copy(candidate / f"{m}.parquet", dest / f"{m}.parquet")
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"create view t as select * from read_parquet('{candidate / mart}.parquet')")
    con.execute(f"copy ({select}) to '{dest / mart}.parquet' (format parquet)")
    con.close()
    return dest


def failed(result: GateResult, table: str, dataset: str, column: str):
    found = [
        f
        for f in result.failures
        if f.table == table and f.dataset == dataset and f.column == column
    ]
    assert found, f"no failure on {table}/{dataset}/{column}:\n{result.summary()}"
    return found[0]


# --------------------------------------------------------------------------- clean
@pytest.mark.integration
def test_clean_candidate_passes_with_docs_and_counts(retail, clean):
    cfg, candidate = retail
    assert clean.success, clean.summary()
    assert clean.failures == []
    rows = duckdb.sql(f"select count(*) from read_parquet('{candidate}/item_weeks.parquet')")
    assert clean.row_counts["item_weeks"] == rows.fetchall()[0][0] > 100_000
    assert set(clean.row_counts) == {"item_weeks", "item_week_labels", "items"}
    # every dataset was validated: raw, staging (sampled), marts and the cross-row frames
    datasets = {v.dataset: v for v in clean.validations}
    assert set(datasets) == {
        "raw_order_lines",
        "staging_events",
        "staging_events_by_source",
        "item_weeks",
        "item_week_labels",
        "item_week_labels_weekly",
        "mart_row_counts",
        "source_rows",
        "vanished_items",
        "week_coverage",
        "item_edges",  # the product graph's marts (expectations/graph.py)
        "item_graph_features",
    }
    # what the next publish compares against: rows read and kept (not quarantined) per source
    assert clean.source_rows["online_retail"]["read"] == 541_909
    assert 0 < clean.source_rows["online_retail"]["kept"] < 541_909
    assert clean.vanished_items == []
    assert datasets["raw_order_lines"].rows <= cfg.gate.sample_rows
    assert datasets["staging_events"].rows <= cfg.gate.sample_rows
    assert datasets["item_week_labels_weekly"].rows == 52
    # data docs in the config's data dir, with this run's pages
    assert clean.docs_path.is_file() and clean.docs_path.name == "index.html"
    assert clean.docs_path.is_relative_to(cfg.data_dir / "gx")
    index = clean.docs_path.read_text()
    assert clean.run_name in index and "item_week_labels_weekly" in index
    assert "gate passed" in clean.summary() and str(clean.docs_path) in clean.summary()
    assert clean.seconds > 0  # the run's duration is recorded (timed in benchmarks, not asserted here)


# --------------------------------------------------------------------------- corrupted marts
@pytest.mark.integration
def test_missing_units_and_a_week_of_year_out_of_range_fail(retail, tmp_path):
    cfg, candidate = retail
    bad = corrupted(
        candidate,
        tmp_path / "panel",
        "item_weeks",
        "with numbered as (select *, row_number() over (order by item_id, week_start) as n from t) "
        "select * exclude (n) replace ("
        "  case when n between 2 and 4 then null else units end as units,"
        "  case when n = 7 then 60 else week_of_year end as week_of_year) "
        "from numbered",
    )
    result = gate(small_sample(cfg), bad)
    assert not result.success
    missing = failed(result, "item_weeks", "item_weeks", "units")
    assert missing.expectation == "expect_column_values_to_not_be_null"
    assert missing.unexpected_count == 3
    week = failed(result, "item_weeks", "item_weeks", "week_of_year")
    assert week.expectation == "expect_column_values_to_be_between"
    assert week.unexpected_count == 1
    assert "60" in week.message and "item_id=" in week.message
    # nothing but the panel is blamed, and the summary names table, check and count
    assert {f.table for f in result.failures} == {"item_weeks"}
    text = result.summary()
    assert "gate FAILED" in text and "item_weeks: " in text and "week_of_year" in text
    assert "3 of " in text and str(result.docs_path) in text


def test_no_gate_check_repeats_a_dbt_test() -> None:
    """dbt owns keys and relational invariants: a column dbt tests `not_null` in a mart is not
    checked for nulls again by the suite of that mart, and no suite counts key duplicates."""
    import great_expectations as gx
    import yaml

    from expectations import suites

    models = yaml.safe_load((REPO / "dbt_project/models/marts/_marts__models.yml").read_text())["models"]
    dbt_not_null = {
        m["config"]["alias"]: {
            c["name"] for c in m.get("columns", []) if "not_null" in (c.get("data_tests") or [])
        }
        for m in models
        if m.get("config", {}).get("alias")
    }
    context = gx.get_context(mode="ephemeral")
    cfg = load_config(REPO / "darkhorse.yaml")
    for mart, suite_fn in (("item_weeks", suites.item_weeks_suite), ("item_week_labels", suites.item_week_labels_suite)):
        suite = suite_fn(context, cfg)
        gx_not_null = {
            e.column for e in suite.expectations if e.expectation_type == "expect_column_values_to_not_be_null"
        }
        assert dbt_not_null[mart], mart
        assert not gx_not_null & dbt_not_null[mart], (mart, gx_not_null & dbt_not_null[mart])
        assert "n_rows" not in {getattr(e, "column", None) for e in suite.expectations}


@pytest.mark.integration
def test_label_prevalence_far_off_fails_per_week(retail, tmp_path):
    cfg, candidate = retail
    # even weeks: a third of the candidates flagged (~0.33 against 0.05); odd weeks: none
    bad = corrupted(
        candidate,
        tmp_path / "prevalence",
        "item_week_labels",
        "select * replace (case "
        "  when not is_label_known then null "
        "  when week(week_start) % 2 = 1 then false "
        "  when is_eligible then coalesce(is_hot_seller, false) or hash(item_id) % 3 = 0 "
        "  else is_hot_seller end as is_hot_seller) from t",
    )
    result = gate(small_sample(cfg), bad)
    assert not result.success
    weeks = duckdb.sql(
        f"select count(distinct week_start) filter (where week(week_start) % 2 = 0), "
        f"count(distinct week_start) filter (where week(week_start) % 2 = 1) "
        f"from read_parquet('{candidate}/item_week_labels.parquet') where is_label_known"
    ).fetchall()[0]
    above = failed(result, "item_week_labels", "item_week_labels_weekly", "share_above_target")
    assert above.expectation == "expect_column_values_to_be_between"
    assert above.unexpected_count == weeks[0]
    assert "week_start=" in above.message
    below = failed(result, "item_week_labels", "item_week_labels_weekly", "hot_sellers_missing")
    assert below.unexpected_count == weeks[1]
    assert sum(weeks) == 40


@pytest.mark.integration
def test_labels_known_past_the_data_fail(retail, tmp_path):
    cfg, candidate = retail
    bad = corrupted(
        candidate,
        tmp_path / "leak",
        "item_week_labels",
        "select * replace ("
        "  is_label_known or week_start = (select max(week_start) from t) as is_label_known"
        ") from t",
    )
    result = gate(small_sample(cfg), bad)
    leak = failed(
        result, "item_week_labels", "item_week_labels_weekly", "known_labels_past_data_end"
    )
    assert leak.unexpected_count == 1  # the last week


# --------------------------------------------------------------------------- drift
@pytest.mark.integration
def test_row_count_drift_against_the_last_publish_fails(retail, clean):
    cfg, candidate = retail
    rows = clean.row_counts
    # item_weeks tripled since the last publish; labels -40% and items +40%: within the limit
    previous = {
        "run_id": "r0",
        "row_counts": {
            "item_weeks": rows["item_weeks"] // 3,
            "item_week_labels": round(rows["item_week_labels"] / 0.6),
            "items": round(rows["items"] / 1.4),
        },
    }
    result = gate(small_sample(cfg), candidate, previous)
    assert not result.success
    f = failed(result, "item_weeks", "mart_row_counts", "row_count_change")
    assert f.unexpected_count == 1
    assert "previous_rows=" in f.message
    assert [x.table for x in result.failures] == ["item_weeks"]
    assert result.docs_path == clean.docs_path and result.run_name != clean.run_name


@pytest.mark.integration
def test_items_and_weeks_lost_against_the_last_publish_are_named(retail, clean, tmp_path):
    """The last publish had two more items and started two weeks earlier; its manifest says
    the source kept 10% more rows: each drift check fails and names what vanished."""
    cfg, candidate = retail
    previous_marts = tmp_path / "published"
    previous_marts.mkdir()
    con = duckdb.connect()
    con.execute(
        f"""copy (
            select item_id, week_start from read_parquet('{candidate}/item_weeks.parquet')
            union all select 'GONE-1', date '2010-11-29' union all select 'GONE-2', date '2010-11-22'
        ) to '{previous_marts}/item_weeks.parquet' (format parquet)"""
    )
    con.close()
    kept = clean.source_rows["online_retail"]["kept"]
    previous = {
        "row_counts": clean.row_counts,
        "source_rows": {"online_retail": {"read": 600_000, "kept": round(kept * 1.1)}},
    }
    from expectations.gate import run_gate

    result = run_gate(
        small_sample(cfg), candidate_marts=candidate, duckdb_path=cfg.duckdb_path,
        previous=previous, previous_marts=previous_marts,
    )
    assert not result.success
    assert result.vanished_items == ["GONE-1", "GONE-2"]
    items = failed(result, "drift", "vanished_items", "in_candidate")
    assert items.unexpected_count == 2
    assert "item_id=GONE-1" in items.message and "item_id=GONE-2" in items.message
    rows = failed(result, "drift", "source_rows", "kept_change")
    assert "source_name=online_retail" in rows.message and "at most 5%" in rows.message
    weeks = failed(result, "drift", "week_coverage", "weeks_lost_at_start")
    assert "starts later by at most 0 week" in weeks.message
    assert "previous_first_week=2010-11-22" in weeks.message
    assert {f.table for f in result.failures} == {"drift"}
    # loosened under gate:, the same candidate passes
    loose = small_sample(cfg).model_copy(
        update={"gate": GateConfig(sample_rows=1000, max_vanished_items=0.01, max_source_row_drop=0.2, max_weeks_lost=2)}
    )
    again = run_gate(loose, candidate_marts=candidate, duckdb_path=cfg.duckdb_path,
                     previous=previous, previous_marts=previous_marts)
    assert again.success, again.summary()
    assert again.vanished_items == ["GONE-1", "GONE-2"]


def test_source_row_changes_frame():
    from expectations.frames import source_row_changes

    now = pd.DataFrame({"source_name": ["a", "b"], "rows_kept": [62, 50]})
    frame = source_row_changes(now, {"source_rows": {"a": {"kept": 100}, "gone": {"kept": 7}}})
    got = frame.set_index("source_name")["kept_change"].to_dict()
    assert got["a"] == pytest.approx(-0.38)
    assert got["b"] != got["b"]  # NaN: b was not in the last publish
    assert got["gone"] == pytest.approx(-1.0)  # a source with no row at all now
    assert source_row_changes(now, None)["kept_change"].isna().all()


def test_row_count_changes_frame():
    frame = row_count_changes(
        {"item_weeks": 150, "items": 10},
        {"row_counts": {"item_weeks": 100, "items": "n/a", "gate_row_counts": {"items": 5}}},
    )
    got = frame.set_index("mart")["row_count_change"].to_dict()
    assert got["item_weeks"] == pytest.approx(0.5)
    assert got["items"] != got["items"]  # NaN: nothing to compare against
    first = row_count_changes({"item_weeks": 150}, None)
    assert first["row_count_change"].isna().all()


# --------------------------------------------------------------------------- raw sources
def _ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.integration
def test_raw_suites_of_reviews_sales_and_request_logs(retail, tmp_path):
    """Raw suites of the other item source kinds (their marts: the retail candidate's). The
    request log's raw suite runs in tests/test_load_only_build.py: with a request_log source
    the gate also reads its counts from the warehouse's int_requests_classified, which the
    retail build does not have."""
    cfg, candidate = retail
    good = [
        {
            "rating": 4.0,
            "title": "t",
            "asin": f"A{i % 7}-1",
            "parent_asin": f"A{i % 7}",
            "user_id": f"u{i}",
            "timestamp": _ms(f"2024-01-{1 + i % 28:02d}"),
            "helpful_vote": i % 3,
            "verified_purchase": True,
            "images": [],
        }
        for i in range(300)
    ]
    # timestamps in seconds where milliseconds are configured, and 1 line in 5 malformed
    # (more than gate.max_quarantined_share, 10%, the share every row-level check allows)
    bad = [{**r, "timestamp": r["timestamp"] // 1000} for r in good]
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text(
        "\n".join("{not json" if i % 5 == 0 else json.dumps(r) for i, r in enumerate(bad)) + "\n"
    )
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "Store,Dept,Date,Weekly_Sales\n"
        + "".join(
            f"{s},{d},2023-01-{6 + w * 7:02d},{10 * s + d + w}\n"
            for s in (1, 2)
            for d in (1, 2)
            for w in range(4)
        )
    )
    sources = [
        {"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)},
        {
            "name": "stores",
            "kind": "sales",
            "path": str(sales),
            "granularity": "weekly",
            "columns": {"item_id": ["Store", "Dept"], "date": "Date", "quantity": "Weekly_Sales"},
        },
    ]
    mixed = small_sample(write_config(tmp_path / "mixed", sources))
    result = gate(mixed, candidate, duckdb_path=cfg.duckdb_path)
    assert {"raw_amazon_reviews", "raw_sales"} <= {v.dataset for v in result.validations}
    # the sales file is fine; the reviews file is broken two ways
    assert {f.table for f in result.failures} == {"raw.reviews"}
    window = failed(result, "raw.reviews", "raw_amazon_reviews", "timestamp__utc")
    assert window.unexpected_count == 240  # every parsed timestamp lands in 1970
    # the failure names the window and the config fields that set it
    assert "timestamp__utc in [1995-01-01, 2100-01-01)" in window.message
    assert "panel.valid_from, panel.valid_until" in window.message
    objects = failed(result, "raw.reviews", "raw_amazon_reviews", "is_json_object")
    assert objects.unexpected_count == 60
    # the malformed lines also empty the keys; ratings, votes and optional keys stay fine
    assert {f.column for f in result.failures} == {
        "is_json_object",
        "parent_asin",
        "timestamp",
        "timestamp__utc",
    }
