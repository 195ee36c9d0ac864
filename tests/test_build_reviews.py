"""A hand-made Amazon Reviews file with every kind of bad line, built end to end by dbt."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from darkhorse.app.build import GateFailed, build
from darkhorse.core import publish as pub
from tests.conftest import write_config

pytestmark = pytest.mark.integration


def ms(day: str, hour: int = 12) -> int:
    return int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp() * 1000)


def review(item, day, *, user="u1", rating=5.0, verified=True, votes=0, **over):
    rec = {"rating": rating, "title": "good", "text": "fine", "images": [], "asin": item + "-1",
           "parent_asin": item, "user_id": user, "timestamp": ms(day), "helpful_vote": votes,
           "verified_purchase": verified}
    rec.update(over)
    return json.dumps(rec)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reviews")
    first = review("A", "2024-01-01", user="u1", rating=5.0, verified=True, votes=2)
    lines = [
        first,                                                     # Monday: the data starts on a week start
        review("A", "2024-01-03", user="u2", rating=4.0, verified=False),
        first,                                                     # the same review twice
        review("B", "2024-01-10", user="u1", rating=3.0),
        '{"rating": 5.0, "parent_asin": "A", "timest',             # malformed line
        review("A", "2024-01-04", timestamp=ms("2024-01-04") // 1000),  # seconds, not ms
        review("A", "2024-01-05", parent_asin=None),                # no item
        review("A", "2024-01-05", rating=7.0),                      # rating out of 1..5
        review("A", "2024-01-05", timestamp="yesterday"),           # not a timestamp
        review("A", "2024-01-22", user="u3", rating=2.0),
        "",                                                         # a blank line is not a record
        review("B", "2024-01-28", user="u4", rating=4.0),           # Sunday: the last week is complete
    ]
    path = tmp / "reviews.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    cfg = write_config(
        tmp,
        [{"name": "reviews", "kind": "amazon_reviews", "path": str(path)}],
        panel={"lookback_weeks": 1, "horizon_weeks": 2, "min_past_activity": 1},
    )
    # half of this file is garbage on purpose: the gate rightly refuses it and publishes nothing
    with pytest.raises(GateFailed, match=r"raw\.reviews"):
        build(cfg, features=False)
    assert pub.current_snapshot(cfg) is None
    # what dbt made of it, published without the gate
    return cfg, build(cfg, gate=False, features=False)


def test_every_row_is_accounted_for_with_its_reason(built):
    cfg, summary = built
    s = summary["sources"]["reviews"]
    assert s["read"] == 11
    assert s["kept"] == 5
    assert s["reasons"] == {
        "malformed_json": 1, "duplicate": 1, "timestamp_out_of_range": 1,
        "missing_item_id": 1, "rating_out_of_range": 1, "unparseable_timestamp": 1,
    }
    q = duckdb.sql(f"select quarantine_reason, raw_record from read_parquet('{cfg.marts_dir}/quarantined_events.parquet')").fetchall()
    raw = dict(q)
    assert raw["malformed_json"].startswith('{"rating": 5.0, "parent_asin": "A", "timest')
    assert '"yesterday"' in raw["unparseable_timestamp"]


def test_panel_is_dense_with_exact_weekly_values(built):
    cfg, summary = built
    rows = duckdb.sql(
        f"""select item_id, strftime(week_start, '%Y-%m-%d'), units, customers, helpful_votes,
                   verified_ratio, mean_rating, units_lookback_sum, weeks_since_first_event
            from read_parquet('{cfg.marts_dir}/item_weeks.parquet') order by 1, 2"""
    ).fetchall()
    assert rows == [
        ("A", "2024-01-01", 2.0, 2, 2, 0.5, 4.5, 2.0, 0),
        ("A", "2024-01-08", 0.0, 0, 0, None, None, 0.0, 1),
        ("A", "2024-01-15", 0.0, 0, 0, None, None, 0.0, 2),
        ("A", "2024-01-22", 1.0, 1, 0, 1.0, 2.0, 1.0, 3),
        ("B", "2024-01-08", 1.0, 1, 0, 1.0, 3.0, 1.0, 0),
        ("B", "2024-01-15", 0.0, 0, 0, None, None, 0.0, 1),
        ("B", "2024-01-22", 1.0, 1, 0, 1.0, 4.0, 1.0, 2),
    ]
    assert summary["panel"] == {"rows": 7, "items": 2, "weeks": 4}


def test_timestamps_are_utc_microseconds_and_labels_stop_at_the_data_end(built):
    cfg, _ = built
    schema = pq.read_schema(cfg.marts_dir / "item_weeks.parquet")
    t = schema.field("available_at").type
    assert (t.unit, t.tz) == ("us", "UTC")
    known = duckdb.sql(
        f"""select item_id, strftime(week_start, '%Y-%m-%d'), is_label_known, units_future_sum
            from read_parquet('{cfg.marts_dir}/item_week_labels.parquet') order by 1, 2"""
    ).fetchall()
    # horizon 2: only origins with two complete weeks after them have a label
    assert known == [
        ("A", "2024-01-01", True, 0.0),
        ("A", "2024-01-08", True, 1.0),
        ("A", "2024-01-15", False, None),
        ("A", "2024-01-22", False, None),
        ("B", "2024-01-08", True, 1.0),
        ("B", "2024-01-15", False, None),
        ("B", "2024-01-22", False, None),
    ]
