"""The product graph and item text marts (dbt): edges stamped with when they became known,
bounded per customer, per-item graph features and text as known at each week, and nothing at
a week changes when later events are added (poisoning after an origin)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest
import yaml

from darkhorse.app.dbt_runner import run_dbt
from darkhorse.core.config import load_config
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MONDAY = datetime(2024, 1, 1)
SELECT = ["build", "--select", "+fct_item_edges", "+fct_item_graph_features", "+fct_item_week_texts"]


def _line(invoice: str, item: str, customer: str | None, week: int, qty: int = 1, day: int = 1) -> dict:
    ts = MONDAY + timedelta(weeks=week, days=day, hours=10)
    return {"InvoiceNo": invoice, "StockCode": item, "Description": f"PRODUCT {item}", "Quantity": qty,
            "InvoiceDate": ts.strftime("%Y-%m-%d %H:%M:%S"), "UnitPrice": 1.5,
            "CustomerID": customer, "Country": "UK"}


def _base_lines() -> list[dict]:
    rows = [
        _line("1", "A", "c1", 0), _line("2", "B", "c1", 1),        # c1: A then B
        _line("3", "A", "c2", 0), _line("4", "B", "c2", 3),        # c2: A then B (the 2nd shared)
        _line("5", "D", "c5", 0), _line("6", "E", "c5", 1), _line("7", "F", "c5", 2),
        _line("8", "D", "c6", 0), _line("9", "E", "c6", 1), _line("10", "F", "c6", 2),
        _line("11", "A", None, 5),                                 # no customer: links nothing
    ]
    # every item sells a little every week so the panel runs to week 9
    rows += [_line(f"f{w}{i}", i, "filler" + i + str(w), w, day=3) for w in range(10) for i in "ABCDEF"]
    return rows


def _build(tmp, name: str, lines: list[dict]) -> dict[str, pd.DataFrame]:
    work = tmp / name
    work.mkdir()
    path = work / "lines.csv"
    pd.DataFrame(lines).to_csv(path, index=False)
    doc = {
        "sources": [{"name": "shop", "kind": "order_lines", "path": str(path),
                     "timestamp_format": "%Y-%m-%d %H:%M:%S"}],
        "panel": {"lookback_weeks": 1, "horizon_weeks": 2},
        "graph": {"customer_window": 1, "min_shared_customers": 2, "max_neighbours": 1},
        "paths": {"data_dir": str(work / "data"), "duckdb": str(work / "data" / "dh.duckdb"),
                  "marts": str(work / "data" / "marts"), "dbt_project": str(REPO / "dbt_project")},
    }
    (work / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(work / "darkhorse.yaml")
    out = work / "out"
    assert run_dbt(cfg, SELECT, marts_dir=out)
    return {m: duckdb.sql(f"select * from '{out / m}.parquet'").df()
            for m in ("item_edges", "item_graph_features", "item_week_texts")}


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    base = _build(tmp, "base", _base_lines())
    # poison after week 3: new shared customers of A-B, a new pair A-C, new text
    poison = [_line("p1", "A", "c9", 4), _line("p2", "B", "c9", 4), _line("p3", "C", "c9", 5),
              _line("p4", "B", "c8", 6), _line("p5", "A", "c8", 6)]
    poison[0]["Description"] = "POISONED TEXT"
    poisoned = _build(tmp, "poisoned", _base_lines() + poison)
    return base, poisoned


def test_an_edge_is_known_from_the_week_its_second_shared_customer_arrived(marts):
    edges = marts[0]["item_edges"]
    ab = edges[(edges.item_id == "A") & (edges.neighbour_id == "B")]
    assert len(ab) == 1
    row = ab.iloc[0]
    assert pd.Timestamp(row.week_start) == pd.Timestamp(MONDAY + timedelta(weeks=3))
    assert row.first_known_at == row.available_at == pd.Timestamp(MONDAY + timedelta(weeks=4), tz="UTC")
    assert row.shared_customers == 2
    # A's customers by week 3: c1, c2 and the fillers of weeks 0-3; B's likewise
    assert row.item_customers == 2 + 4 and row.neighbour_customers == 2 + 4
    assert row.jaccard == pytest.approx(2 / (6 + 6 - 2))
    # both directions
    assert len(edges[(edges.item_id == "B") & (edges.neighbour_id == "A")]) == 1


def test_a_customer_links_only_items_within_its_window(marts):
    pairs = set(map(tuple, marts[0]["item_edges"][["item_id", "neighbour_id"]].to_numpy()))
    assert ("E", "D") in pairs and ("F", "E") in pairs
    assert ("F", "D") not in pairs and ("D", "F") not in pairs  # two apart: window is 1
    assert not any("filler" in p for pair in pairs for p in pair)


def test_graph_features_use_the_edges_known_that_week_and_cap_neighbours(marts):
    g = marts[0]["item_graph_features"].set_index(["item_id", "week_start"])
    assert ("A", pd.Timestamp(MONDAY + timedelta(weeks=2))) not in g.index  # A-B not known yet
    row = g.loc[("A", pd.Timestamp(MONDAY + timedelta(weeks=3)))]
    assert row.degree == 1 and row.neighbours == 1
    e = g.loc[("E", pd.Timestamp(MONDAY + timedelta(weeks=2)))]
    assert e.degree == 2 and e.neighbours == 1  # D and F, capped at one
    # one neighbour kept: its momentum is both the weighted mean and the highest
    assert (g["max_neighbour_growth"] == g["neighbour_growth"]).all() and (g["max_neighbour_growth"] > 0).any()
    # ...and it is surging (counted, holding all the shared customers) exactly when its momentum is at least 2
    surging = (g["max_neighbour_growth"] >= 2).astype(int)
    assert surging.any()  # some neighbour does surge: the count below is not all zeros by construction
    assert (g["surging_neighbours"] == surging).all() and (g["surging_neighbour_share"] == surging).all()


def test_poisoning_after_a_week_changes_nothing_known_at_that_week(marts):
    base, poisoned = marts
    close = pd.Timestamp(MONDAY + timedelta(weeks=4), tz="UTC")  # the close of week 3
    for mart in ("item_edges", "item_graph_features", "item_week_texts"):
        keys = [c for c in ("item_id", "neighbour_id", "week_start") if c in base[mart].columns]
        a = base[mart][base[mart].available_at <= close].sort_values(keys).reset_index(drop=True)
        b = poisoned[mart][poisoned[mart].available_at <= close].sort_values(keys).reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    # ...and later rows did change: the poison is there
    assert (poisoned["item_edges"].shared_customers.max() > base["item_edges"].shared_customers.max())
    assert poisoned["item_week_texts"].text.str.contains("POISONED").any()


def test_texts_hold_each_distinct_description_once_per_week(marts):
    t = marts[0]["item_week_texts"].set_index(["item_id", "week_start"])
    row = t.loc[("A", pd.Timestamp(MONDAY))]
    assert row.text == "PRODUCT A" and row.n_texts == 3  # c1, c2 and a filler line


def test_review_texts_hold_titles_and_bodies(tmp_path):
    import json

    from synthetic.generator import generate_reviews

    path = tmp_path / "reviews.jsonl"
    generate_reviews(path, rows=3000, seed=1, n_items=40, weeks=30, spread=True)
    first = json.loads(path.read_text().splitlines()[0])
    doc = {
        "sources": [{"name": "r", "kind": "amazon_reviews", "path": str(path)}],
        "paths": {"data_dir": str(tmp_path / "data"), "duckdb": str(tmp_path / "data" / "dh.duckdb"),
                  "marts": str(tmp_path / "data" / "marts"), "dbt_project": str(REPO / "dbt_project")},
    }
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    assert run_dbt(load_config(tmp_path / "darkhorse.yaml"), SELECT, marts_dir=out)
    texts = duckdb.sql(f"select * from '{out}/item_week_texts.parquet'").df()
    mine = texts[texts.item_id == first["parent_asin"]].text.str.cat(sep=" ")
    assert first["title"] in mine and first["text"] in mine
    assert texts.n_texts.sum() == 3000
    assert duckdb.sql(f"select count(*) from '{out}/item_edges.parquet'").fetchall()[0][0] > 0
