"""An item catalogue (Amazon Reviews 2023 item metadata, or a table of one's own) built with its
item source: what it says reaches the items mart, the categories, the item texts; what it gets
wrong is set aside by reason, and a catalogue the gate refuses publishes nothing."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from darkhorse.app.build import GateFailed, build
from darkhorse.app.preflight import SourceError, preflight
from darkhorse.core import publish as pub
from darkhorse.core.config import ConfigError
from tests.conftest import write_config

pytestmark = pytest.mark.integration

START = datetime(2024, 1, 1, 12, tzinfo=UTC)  # a Monday


def reviews_file(path, weeks=20):
    """Reviews of items A (3 a week), B, C (2 a week) and D (from week 10), Monday to Sunday weeks."""
    lines = []
    for w in range(weeks):
        for item, n in (("A", 3), ("B", 1 + w % 3), ("C", 2), ("D", 1 if w >= 10 else 0)):
            for k in range(n):
                ts = START + timedelta(weeks=w, hours=k)
                lines.append(json.dumps({
                    "rating": 4.0, "title": "ok", "text": "fine", "images": [], "asin": item + "1",
                    "parent_asin": item, "user_id": f"u{k}{w % 5}", "timestamp": int(ts.timestamp() * 1000),
                    "helpful_vote": 0, "verified_purchase": True,
                }))
    path.write_text("\n".join(lines) + "\n")
    return path


def meta(item, title, category, store, features=(), description=(), **over):
    rec = {"main_category": category, "title": title, "average_rating": 4.1, "rating_number": 12,
           "features": list(features), "description": list(description), "price": 9.99, "images": [],
           "videos": [], "store": store, "categories": [category, "Sub"], "details": {"Brand": store},
           "parent_asin": item, "bought_together": None}
    rec.update(over)
    return json.dumps(rec)


GOOD = [
    meta("A", "Steel bottle", "Home", "Acme", features=["Keeps cold", "  "], description=["750 ml."]),
    meta("B", "Mug", "Home", None, description=["A mug."]),
    meta("C", "Kite", "Toys", "Skyco", features=["Flies"]),
    meta("C", "Kite", "Toys", None),                     # a second, poorer listing of C
    meta("Z", "Rake", "Garden", "Greenco"),              # listed, never reviewed
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("catalog")
    reviews = reviews_file(tmp / "reviews.jsonl")
    catalog = tmp / "meta.jsonl.gz"
    lines = [*GOOD[:2], "", *GOOD[2:], meta(None, "no id", "Toys", "x")] + [
        meta(f"X{i}", f"Other {i}", "Misc", "Co") for i in range(20)  # enough good lines for the gate
    ] + ['{"parent_asin": "D", "title": "Broken']
    with gzip.open(catalog, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    cfg = write_config(
        tmp,
        [{"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)},
         {"name": "meta", "kind": "catalog", "path": str(catalog)}],
        panel={"lookback_weeks": 2, "horizon_weeks": 4},
    )
    return cfg, build(cfg, features=False)


def items(cfg):
    return duckdb.sql(
        f"select item_id, description, title, category, brand from read_parquet('{cfg.marts_dir}/items.parquet') "
        "order by 1"
    ).fetchall()


def test_every_catalogue_record_is_kept_once_per_item_or_set_aside_with_its_reason(built):
    cfg, summary = built
    s = summary["sources"]["meta"]
    assert (s["kind"], s["read"], s["kept"]) == ("catalog", 27, 24)  # A, B, C, Z and X0..X19
    assert s["reasons"] == {"duplicate": 1, "missing_item_id": 1, "malformed_json": 1}
    # D is not listed; Z and X0..X19 never reviewed
    assert s["coverage"] == {"panel_items": 4, "listed": 3, "listed_not_in_panel": 21}
    set_aside = duckdb.sql(
        f"""select quarantine_reason, item_id, raw_record from read_parquet('{cfg.marts_dir}/quarantined_events.parquet')
            where source_kind = 'catalog' order by 1"""
    ).fetchall()
    assert [r[:2] for r in set_aside] == [("duplicate", "C"), ("malformed_json", None), ("missing_item_id", None)]
    # the fuller listing of C is kept, whichever line comes first: the one set aside has no store
    assert json.loads(set_aside[0][2])["store"] is None
    assert set_aside[1][2] == '{"parent_asin": "D", "title": "Broken'


def test_the_items_mart_names_each_listed_item(built):
    cfg, _ = built
    # reviews carry no description: the catalogue's title is it; D is not listed
    assert items(cfg) == [
        ("A", "Steel bottle", "Steel bottle", "Home", "Acme"),
        ("B", "Mug", "Mug", "Home", None),
        ("C", "Kite", "Kite", "Toys", "Skyco"),
        ("D", None, None, None, None),
    ]


def test_the_listing_text_is_known_from_the_items_first_week_only(built):
    cfg, _ = built
    texts = duckdb.sql(
        f"""select item_id, strftime(week_start, '%Y-%m-%d'), text
            from read_parquet('{cfg.marts_dir}/item_week_texts.parquet') where item_id in ('A', 'D') order by 1, 2"""
    ).fetchall()
    first_a = [t for t in texts if t[0] == "A"]
    # title, features and description (an empty paragraph dropped), then the week's reviews
    assert first_a[0] == ("A", "2024-01-01", "Steel bottle Keeps cold 750 ml. | ok fine")
    assert all("Steel bottle" not in t[2] for t in first_a[1:])
    assert all("Broken" not in t[2] for t in texts if t[0] == "D")


def test_a_catalogue_the_gate_refuses_leaves_the_published_marts(built, tmp_path):
    cfg, _ = built
    before = pub.current_snapshot(cfg)
    items_before = items(cfg)
    bad = tmp_path / "meta.jsonl"
    bad.write_text("\n".join([GOOD[0], GOOD[1], meta(None, "x", "Toys", "y"), "not json"]) + "\n")
    cfg2 = write_config(
        cfg.root,
        [{"name": "reviews", "kind": "amazon_reviews", "path": str(cfg.root / "reviews.jsonl")},
         {"name": "meta", "kind": "catalog", "path": str(bad)}],
        panel={"lookback_weeks": 2, "horizon_weeks": 4},
    )
    with pytest.raises(GateFailed, match=r"(?s)raw\.meta.*source_name=meta"):
        build(cfg2, features=False)
    assert pub.current_snapshot(cfg2) == before
    assert items(cfg2) == items_before


def test_a_table_catalogue_names_categories_before_the_rows(tmp_path):
    """A CSV catalogue beside weekly sales that name their own category: the catalogue's wins for
    the items it lists, the rows' category stays for the others, in the items mart and in the
    item x region panel the hierarchy reads."""
    sales = tmp_path / "sales.csv"
    rows = ["sku,week,units,dept,store"]
    for w in range(12):
        day = (START + timedelta(weeks=w)).date().isoformat()
        rows += [f"s1,{day},{5 + w % 2},Food,N", f"s2,{day},3,Food,S", f"s3,{day},{w},Toys,N"]
    sales.write_text("\n".join(rows) + "\n")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "code,name,family,maker,notes\n"
        "s1,Oat bar,Snacks,Oatco,\"Crunchy, sweet\"\n"
        "s2,Tea,,Leafco,\n"
        "s9,Unsold,Misc,,\n"
    )
    cfg = write_config(tmp_path, [
        {"name": "sales", "kind": "sales", "path": str(sales), "granularity": "weekly",
         "columns": {"item_id": "sku", "date": "week", "quantity": "units", "category": "dept", "region": "store"}},
        {"name": "catalog", "kind": "catalog", "path": str(catalog),
         "columns": {"item_id": "code", "title": "name", "category": "family", "brand": "maker", "text": "notes"}},
    ], panel={"lookback_weeks": 2, "horizon_weeks": 2})
    summary = build(cfg, features=False)
    assert summary["sources"]["catalog"]["kept"] == 3
    assert summary["sources"]["catalog"]["coverage"] == {"panel_items": 3, "listed": 2, "listed_not_in_panel": 1}
    assert items(cfg) == [
        ("s1", "Oat bar", "Oat bar", "Snacks", "Oatco"),
        ("s2", "Tea", "Tea", "Food", "Leafco"),       # listed without a family: the rows' dept
        ("s3", None, None, "Toys", None),
    ]
    regional = duckdb.sql(
        f"select distinct item_id, category from read_parquet('{cfg.marts_dir}/item_region_weeks.parquet') order by 1"
    ).fetchall()
    assert regional == [("s1", "Snacks"), ("s2", "Food"), ("s3", "Toys")]


def test_preflight_names_the_key_a_catalogue_lacks(tmp_path):
    reviews = reviews_file(tmp_path / "reviews.jsonl", weeks=3)
    catalog = tmp_path / "meta.jsonl"
    catalog.write_text(json.dumps({"asin": "A", "title": "x"}) + "\n")
    cfg = write_config(tmp_path, [
        {"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)},
        {"name": "meta", "kind": "catalog", "path": str(catalog), "columns": {"category": None, "brand": None, "text": None}},
    ])
    with pytest.raises(SourceError, match=r"meta.*meta\.jsonl.*'parent_asin' \(mapped as item_id\)"):
        preflight(cfg)


def test_a_catalogue_alone_is_refused(tmp_path):
    catalog = tmp_path / "meta.jsonl"
    catalog.write_text(meta("A", "x", "Home", "y") + "\n")
    with pytest.raises(ConfigError, match="catalog describes the items of an item source"):
        write_config(tmp_path, [{"name": "meta", "kind": "catalog", "path": str(catalog)}])


def test_the_service_names_items_from_the_online_store(built, tmp_path):
    """Built with Feast: the hot-seller response's names come from the online store's static item
    view (`FeatureFreshness.latest`, what `/v1/hot-sellers` reads), unknown items get none."""
    from datetime import date

    from darkhorse.serving.engine import FeatureFreshness

    cfg, _ = built
    build(cfg)  # the same data, now with `feast apply` and `materialize`
    fresh = FeatureFreshness(cfg, ["A", "B", "D"], trained_through=date(2024, 5, 6), max_age_days=7.0,
                             refresh_seconds=60.0, source="feast")
    values, names = fresh.latest(["A", "B", "D", "nope"])
    assert names["A"] == {"description": "Steel bottle", "category": "Home", "brand": "Acme"}
    assert names["B"] == {"description": "Mug", "category": "Home", "brand": None}
    assert names["D"] == {"description": None, "category": None, "brand": None}
    assert names["nope"] == {"description": None, "category": None, "brand": None}
    assert values["A"]["units"] == 3.0 and "category" not in values["A"]
