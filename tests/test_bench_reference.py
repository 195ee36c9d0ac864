"""The benchmark's two reference builds (one DuckDB statement, pandas) against the dbt project.

Three independent implementations of the weekly panel must agree row for row on a small
synthetic file with messy lines mixed in (malformed JSON, a non-object line, blank lines,
exact copies, missing keys, bad timestamps and ratings). Agreement checks the dbt SQL as much
as the references; the quarantine counts of the dbt run are checked against what was injected.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from darkhorse.app.build import run_dbt
from darkhorse.core.config import load_config
from synthetic.generator import generate_reviews
from tests.fixtures.reference_panel import (
    compare_marts,
    run_floor,
    run_pandas,
    write_dbt_config,
)

pytestmark = pytest.mark.integration

ROWS = 20_000
N_COPIES = 40


def _messy_lines(records: list[dict]) -> tuple[list[str], dict[str, int]]:
    """Lines to mix into the file, and the quarantine reasons dbt should give them."""
    a, b, c = records[10], records[20], records[30]
    ts = a["timestamp"]

    def rec(**changes):
        r = dict(a)
        r["user_id"] = "AMESSYREVIEWER" + str(len(changes)) + "".join(sorted(changes))
        for k, v in changes.items():
            if v is ...:
                r.pop(k)
            else:
                r[k] = v
        return json.dumps(r)

    lines = [
        '{"rating": 5.0, "title": "Cut short", "parent_asin": "B0TRUNCATE',  # malformed
        '["not", "an", "object"]',  # valid JSON, not a record
        "",  # blank: not a record at all
        "   ",
        rec(parent_asin=...),  # no item
        rec(parent_asin="   "),  # blank item
        rec(timestamp=...),  # no timestamp
        rec(timestamp=None),  # null timestamp
        rec(timestamp="yesterday"),  # not a number
        rec(timestamp=1e20),  # far outside the valid window
        rec(timestamp=500_000_000_000),  # 1985: before valid_from
        rec(rating=7.0),  # out of range
        rec(rating="great"),  # not a number
        # kept: a timestamp written as a string, a review without rating, votes or flag
        rec(timestamp=str(ts), title="Kept, timestamp as text"),
        rec(rating=None, title="Kept, no rating"),
        rec(helpful_vote=..., verified_purchase=..., title="Kept, no votes or flag"),
        rec(rating=..., title="Kept, rating key absent"),
    ]
    # exact copies of real reviews (and of a kept messy one): each counts once
    copies = [json.dumps(r) for r in records[100 : 100 + N_COPIES - 1]]
    copies.append(rec(rating=None, title="Kept, no rating"))
    # a second review of the same item by other reviewers is not a copy
    lines += [
        *copies,
        json.dumps({**b, "user_id": "ANOTHERREVIEWER"}),
        json.dumps({**c, "title": "Changed"}),
    ]
    expected = {
        "malformed_json": 2,
        "missing_item_id": 2,
        "missing_timestamp": 2,
        "unparseable_timestamp": 1,
        "timestamp_out_of_range": 2,
        "rating_out_of_range": 1,
        "unparseable_rating": 1,
        "duplicate": N_COPIES,
    }
    return lines, expected


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bench_reference")
    clean = tmp / "clean.jsonl"
    generate_reviews(clean, rows=ROWS, seed=7)
    raw = clean.read_text().splitlines()
    records = [json.loads(line) for line in raw[:200]]
    messy, expected = _messy_lines(records)
    # spread the messy lines through the file (not only at its end)
    out_lines = []
    step = len(raw) // (len(messy) + 1)
    for i, line in enumerate(raw):
        out_lines.append(line)
        if i % step == step - 1 and messy:
            out_lines.append(messy.pop(0))
    out_lines += messy
    data = tmp / "reviews.jsonl"
    data.write_text("\n".join(out_lines) + "\n")

    floor_dir = tmp / "floor"
    pandas_dir = tmp / "pandas"
    run_floor(data, floor_dir)
    # small chunks: the malformed lines fall in some chunks and not in others
    run_pandas(data, pandas_dir, chunksize=3_000)

    work = tmp / "dbt"
    config_path = write_dbt_config(work / "darkhorse.yaml", data, work)
    config = load_config(config_path)
    assert run_dbt(config, ["run"], marts_dir=config.marts_dir), "dbt run failed"
    return {
        "floor": floor_dir,
        "pandas": pandas_dir,
        "dbt": config.marts_dir,
        "duckdb": config.duckdb_path,
        "expected_quarantine": expected,
    }


def _assert_agree(result: dict) -> None:
    for mart, m in result["marts"].items():
        assert m["rows_a"] > 0, mart
        assert m["only_in_a"] == 0 and m["only_in_b"] == 0, (mart, m)
        assert not m["missing_columns"], (mart, m)
        assert not m["column_mismatches"], (mart, m["column_mismatches"])
    assert result["agree"]


def test_floor_and_pandas_agree(built):
    _assert_agree(compare_marts(built["floor"], built["pandas"]))


def test_floor_agrees_with_dbt(built):
    _assert_agree(compare_marts(built["dbt"], built["floor"]))


def test_pandas_agrees_with_dbt(built):
    _assert_agree(compare_marts(built["dbt"], built["pandas"]))


def test_panel_is_not_trivial(built):
    con = duckdb.connect()
    labels = str(built["dbt"] / "item_week_labels.parquet")
    rows, known, hot, items = con.execute(
        "select count(*), count(*) filter (where is_label_known), "
        "count(*) filter (where is_hot_seller), count(distinct item_id) from read_parquet(?)",
        [labels],
    ).fetchone()
    assert items >= 50
    assert 0 < known < rows
    # about 5% of candidates, never more than the cut allows
    assert 0 < hot < 0.08 * known


def test_dbt_quarantines_exactly_the_injected_lines(built):
    con = duckdb.connect(str(built["duckdb"]), read_only=True)
    try:
        got = dict(
            con.sql(
                "select reason, n_rows from rpt_source_row_counts where outcome = 'quarantined'"
            ).fetchall()
        )
        kept = con.sql(
            "select sum(n_rows) from rpt_source_row_counts where outcome <> 'quarantined'"
        ).fetchone()[0]
    finally:
        con.close()
    assert got == built["expected_quarantine"]
    # every generated review plus the six messy reviews that are valid
    assert kept == ROWS + 6


def test_comparison_notices_a_changed_value(built, tmp_path):
    changed = tmp_path / "changed"
    changed.mkdir()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for mart in ("item_weeks", "item_week_labels"):
        src = str(built["floor"] / f"{mart}.parquet")
        dst = str(changed / f"{mart}.parquet")
        if mart == "item_week_labels":
            con.execute(
                f"copy (select * replace (case when row_number() over (order by item_id, week_start) = 7 "
                f"then not coalesce(is_hot_seller, false) else is_hot_seller end as is_hot_seller) "
                f"from read_parquet('{src}')) to '{dst}' (format parquet)"
            )
        else:
            con.execute(
                f"copy (select * replace (case when row_number() over (order by item_id, week_start) = 3 "
                f"then units_12w_sum + 1e-6 else units_12w_sum end as units_12w_sum) "
                f"from read_parquet('{src}') where week_start <> (select max(week_start) from "
                f"read_parquet('{src}'))) to '{dst}' (format parquet)"
            )
    result = compare_marts(built["floor"], changed)
    assert not result["agree"]
    assert result["marts"]["item_weeks"]["column_mismatches"] == {"units_12w_sum": 1}
    assert result["marts"]["item_weeks"]["only_in_a"] > 0
    assert result["marts"]["item_week_labels"]["column_mismatches"] == {"is_hot_seller": 1}
