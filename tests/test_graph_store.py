"""The product-graph marts in Feast and in the gate: the graph, edge and text views serve a row
from the second it became known on and never a second earlier, and the gate's graph suites
pass a clean build and name a broken neighbour cap and an edge known before its items."""

from __future__ import annotations

import shutil
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core import features
from darkhorse.core.config import load_config
from tests.conftest import REPO
from tests.test_graph_marts import MONDAY, _base_lines

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRAPH_TABLES = ("item_edges", "item_graph_features")


def _close(week: int) -> pd.Timestamp:
    return pd.Timestamp(MONDAY + timedelta(weeks=week + 1), tz="UTC")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("graph_store")
    path = work / "lines.csv"
    lines = _base_lines()
    for w in (2, 5):  # A's text changes in weeks 2 and 5
        lines.append({**lines[0], "InvoiceNo": f"t{w}", "Description": f"A WEEK {w}",
                      "InvoiceDate": (MONDAY + timedelta(weeks=w, days=2)).strftime("%Y-%m-%d %H:%M:%S")})
    pd.DataFrame(lines).to_csv(path, index=False)
    doc = {
        "sources": [{"name": "shop", "kind": "order_lines", "path": str(path),
                     "timestamp_format": "%Y-%m-%d %H:%M:%S"}],
        "panel": {"lookback_weeks": 1, "horizon_weeks": 2},
        "graph": {"customer_window": 1, "min_shared_customers": 2, "max_neighbours": 1},
        "paths": {"data_dir": str(work / "data"), "duckdb": str(work / "data" / "dh.duckdb"),
                  "marts": str(work / "data" / "marts"), "dbt_project": str(REPO / "dbt_project")},
        "feast": {"repo": str(REPO / "feature_repo")},
    }
    (work / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(work / "darkhorse.yaml")
    build(cfg, gate=False, features=True, progress=lambda *_: None)
    return cfg


def _historical(store, service: str, entities: pd.DataFrame) -> pd.DataFrame:
    return store.get_historical_features(entity_df=entities, features=store.get_feature_service(service)).to_df()


def test_graph_views_are_registered_and_online_for_the_item_view_only(built):
    store = features.feature_store(built)
    views = {v.name: v for v in store.list_feature_views()}
    assert {"item_graph", "item_edge", "item_text"} <= set(views)
    assert views["item_graph"].online and not views["item_edge"].online and not views["item_text"].online
    assert {s.name for s in store.list_feature_services()} >= {"graph_training_v1", "edges_training_v1",
                                                                "graph_serving_v1"}


def test_an_edge_is_served_from_the_second_it_became_known(built):
    store = features.feature_store(built)
    known = _close(3)  # A-B reached its second shared customer (c2) in week 3
    edges = pd.read_parquet(built.marts_dir / "item_edges.parquet")
    ab = edges[(edges["item_id"] == "A") & (edges["neighbour_id"] == "B")]
    assert pd.Timestamp(ab["first_known_at"].min()) == known
    ent = pd.DataFrame({"item_id": ["A", "A", "B"], "neighbour_id": ["B", "B", "A"],
                        "event_timestamp": [known - pd.Timedelta(seconds=1), known, known]})
    got = _historical(store, "edges_training_v1", ent).sort_values(["event_timestamp", "item_id"])
    assert got["shared_customers"].isna().tolist() == [True, False, False]
    assert got["shared_customers"].iloc[1:].tolist() == [2, 2]
    np.testing.assert_allclose(got["jaccard"].iloc[1:], ab["jaccard"].iloc[0])


def test_graph_features_and_text_change_at_the_weeks_close_not_a_second_earlier(built):
    store = features.feature_store(built)
    feats = pd.read_parquet(built.marts_dir / "item_graph_features.parquet")
    e2 = feats[(feats["item_id"] == "E") & (pd.to_datetime(feats["week_start"]) == MONDAY + timedelta(weeks=2))]
    e1 = feats[(feats["item_id"] == "E") & (pd.to_datetime(feats["week_start"]) == MONDAY + timedelta(weeks=1))]
    # E: D known at week 1's close, F from week 2's: degree 1 then 2, one neighbour kept (the cap)
    assert e1["degree"].tolist() == [1] and e2["degree"].tolist() == [2] and e2["neighbours"].tolist() == [1]
    stamps = [_close(0), _close(1) - pd.Timedelta(seconds=1), _close(1), _close(2) - pd.Timedelta(seconds=1), _close(2)]
    ent = pd.DataFrame({"item_id": "E", "event_timestamp": stamps})
    got = _historical(store, "graph_training_v1", ent).sort_values("event_timestamp")
    assert got["degree"].fillna(0).astype(int).tolist() == [0, 0, 1, 1, 2]

    texts = _historical(store, "graph_training_v1", pd.DataFrame({
        "item_id": "A", "event_timestamp": [_close(2) - pd.Timedelta(seconds=1), _close(2), _close(5) - pd.Timedelta(seconds=1),
                                            _close(5)]})).sort_values("event_timestamp")
    assert [("A WEEK 2" in t, "A WEEK 5" in t) for t in texts["text"]] == [
        (False, False), (True, False), (False, False), (False, True)]


def test_the_online_store_holds_each_items_latest_graph_row(built):
    store = features.feature_store(built)
    feats = pd.read_parquet(built.marts_dir / "item_graph_features.parquet")
    latest = feats.sort_values("week_start").groupby("item_id").tail(1).set_index("item_id").sort_index()
    online = store.get_online_features(features=store.get_feature_service("graph_serving_v1"),
                                       entity_rows=[{"item_id": i} for i in latest.index]).to_df()
    assert online.set_index("item_id").loc[latest.index, "degree"].tolist() == latest["degree"].tolist()


def _gate(cfg, candidate):
    from expectations.gate import run_gate

    return run_gate(cfg, candidate_marts=candidate, duckdb_path=cfg.duckdb_path, previous=None)


def test_the_gate_passes_the_graph_marts_and_names_a_broken_cap_and_an_early_edge(built, tmp_path):
    clean = _gate(built, built.marts_dir)
    seen = {v.dataset: v for v in clean.validations}
    assert {"item_edges", "item_graph_features"} <= set(seen)
    assert seen["item_edges"].rows > 0 and seen["item_graph_features"].rows > 0
    assert not [f for f in clean.failures if f.table in GRAPH_TABLES], clean.summary()

    broken = tmp_path / "broken"
    shutil.copytree(built.marts_dir.resolve(), broken)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    # the cap is 1: a row keeping 3 neighbours; and an edge A-B stamped before A's first sale
    con.execute(f"""copy (select * replace (case when item_id = 'E' then 3 else neighbours end as neighbours,
                                           case when item_id = 'E' then 3 else degree end as degree,
                                           shared_customers + 10 as shared_customers)
                          from '{built.marts_dir}/item_graph_features.parquet')
                    to '{broken}/item_graph_features.parquet' (format parquet)""")
    con.execute(f"""copy (select * replace (case when item_id = 'A' and neighbour_id = 'B'
                                                 then timestamptz '2023-06-05 00:00:00+00' else first_known_at end
                                            as first_known_at)
                          from '{built.marts_dir}/item_edges.parquet')
                    to '{broken}/item_edges.parquet' (format parquet)""")
    con.close()
    result = _gate(built, broken)
    graph_failures = {(f.dataset, f.expectation, f.column) for f in result.failures if f.table in GRAPH_TABLES}
    assert ("item_graph_features", "expect_column_values_to_be_between", "neighbours") in graph_failures
    early = {(f.expectation, f.column): f for f in result.failures if f.dataset == "item_edges"}
    assert set(early) == {("expect_column_pair_values_a_to_be_greater_than_b", "first_edge_known_at, item_first_event_at"),
                          ("expect_column_values_to_be_between", "min_seconds_after_neighbour_first_event"),
                          ("expect_column_values_to_be_between", "edges_reverse_stamped_apart")}, result.summary()
    # A's edge to B is stamped before A's and B's first sales; A-B and B-A disagree on the stamp
    assert early[("expect_column_pair_values_a_to_be_greater_than_b", "first_edge_known_at, item_first_event_at")].unexpected_count == 1
    assert early[("expect_column_values_to_be_between", "min_seconds_after_neighbour_first_event")].unexpected_count == 1
    assert early[("expect_column_values_to_be_between", "edges_reverse_stamped_apart")].unexpected_count == 2
