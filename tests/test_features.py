"""The feature store built from a config: apply, materialize, online reads, Redis, publishes.

The marts are purpose-built synthetic Parquet files with the published schema, laid out the way
the publish step lays them out (`data/marts` a symlink to `data/published/<run_id>/`).
"""

from __future__ import annotations

import os
from datetime import UTC, timedelta

import numpy as np
import pandas as pd
import pytest

from darkhorse.core import features
from synthetic.marts import publish_snapshot
from tests.conftest import write_config
from tests.fixtures.servers import redis_server, redis_server_binary

SOURCES = [{"name": "synthetic", "kind": "amazon_reviews", "path": "raw.jsonl"}]
STATIC = ["source_kind", "description", "category", "brand", "first_week"]


def expected_online(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Brute force: each item's latest closed week from the Parquet, plus its static columns."""
    iw = frames["item_weeks"]
    latest = iw.sort_values("available_at").groupby("item_id").tail(1)
    items = frames["items"][["item_id", *STATIC]].copy()
    items["first_week"] = pd.to_datetime(items["first_week"]).dt.tz_localize("UTC")
    return latest.merge(items, on="item_id").set_index("item_id")


def assert_same_features(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        g, w = got[col], want[col]
        if col == "first_week":
            assert (pd.to_datetime(g, utc=True) == pd.to_datetime(w, utc=True)).all(), col
        elif col in ("source_kind", "description", "category", "brand"):
            assert list(g) == list(w), col
        else:
            np.testing.assert_allclose(
                g.astype("float64").to_numpy(), w.astype("float64").to_numpy(), err_msg=col
            )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    cfg = write_config(tmp_path_factory.mktemp("features"), SOURCES)
    _, frames = publish_snapshot(cfg.data_dir, "run1", n_items=60, n_weeks=40, seed=3)
    features.apply(cfg)
    summary = features.materialize(cfg)
    return cfg, frames, summary


@pytest.fixture(scope="session")
def redis_binary():
    binary, how = redis_server_binary(install=True)
    if binary is None:
        if os.environ.get("DARKHORSE_REQUIRE_REDIS") == "1":
            pytest.fail(f"no Redis server, and DARKHORSE_REQUIRE_REDIS=1 makes the test mandatory: {how}")
        pytest.skip(f"no Redis server for the Redis online-store test: {how}; set DARKHORSE_REQUIRE_REDIS=1 to make it fail instead")
    return binary


# --------------------------------------------------------------------------- unit
def test_repo_config_follows_the_config_and_env(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, SOURCES)
    monkeypatch.delenv("DARKHORSE_ONLINE_STORE", raising=False)
    rc = features.repo_config(cfg)
    assert rc.online_store.type == "sqlite"
    assert rc.online_store.path == str(cfg.feast_data_dir / "online_store.db")
    assert rc.registry.path == str(cfg.feast_data_dir / "registry.db")
    assert rc.offline_store.type == "duckdb"
    assert rc.entity_key_serialization_version == 3
    monkeypatch.setenv("DARKHORSE_ONLINE_STORE", "redis")
    monkeypatch.setenv("DARKHORSE_REDIS", "127.0.0.1:6390")
    rc = features.repo_config(cfg)
    assert (rc.online_store.type, rc.online_store.connection_string) == ("redis", "127.0.0.1:6390")
    monkeypatch.setenv("DARKHORSE_ONLINE_STORE", "memcached")
    with pytest.raises(features.FeatureStoreError, match="sqlite' or 'redis"):
        features.repo_config(cfg)


def test_apply_without_published_marts_says_what_to_do(tmp_path):
    cfg = write_config(tmp_path, SOURCES)
    with pytest.raises(features.FeatureStoreError, match="darkhorse build"):
        features.apply(cfg)


def test_declarations_follow_the_config(tmp_path):
    cfg = write_config(tmp_path, SOURCES)
    decl = features.load_declarations(cfg)
    views = {fv.name: fv for fv in decl.feature_views}
    assert set(views) == {features.WEEKLY_VIEW, features.STATIC_VIEW, "series_interval_activity"}
    assert views[features.WEEKLY_VIEW].ttl == timedelta(weeks=cfg.feast.ttl_weeks)
    assert not views[features.STATIC_VIEW].ttl  # static attributes never expire
    paths = {ds.name: ds.path for ds in decl.data_sources}
    assert paths["item_weeks"] == str(cfg.data_dir / "marts" / "item_weeks.parquet")
    assert {fs.name for fs in decl.feature_services} == {
        "training_v1", "serving_v1", "load_training_v1", "load_serving_v1",
    }
    # labels and whole-history item attributes are never features
    names = {f.name for fv in decl.feature_views for f in fv.features}
    assert not names & {"units_future_sum", "growth_score", "is_hot_seller", "total_units",
                        "last_event_at", "n_weeks", "last_active_week"}


# --------------------------------------------------------------------------- end to end
@pytest.mark.integration
def test_registry_keeps_the_marts_link_not_the_snapshot(deployment):
    cfg, _, summary = deployment
    store = features.feature_store(cfg)
    path = store.get_data_source("item_weeks").path
    assert path == str(cfg.data_dir / "marts" / "item_weeks.parquet")
    assert os.path.isabs(path) and "published" not in path
    assert summary["online_store"] == "sqlite"
    assert summary["start"] == "2021-01-11T00:00:00+00:00"  # the first week's close, not the ttl window


@pytest.mark.integration
def test_online_features_are_the_latest_closed_week(deployment):
    cfg, frames, _ = deployment
    want = expected_online(frames)
    ids = list(want.index)
    got = features.online_features(cfg, ids)
    assert got.unknown_items == []
    assert list(got.features["item_id"]) == ids
    cols = [c for c in got.features.columns if c != "item_id"]
    assert set(cols) == set(features.feature_columns(features.feature_store(cfg), "serving_v1"))
    assert_same_features(got.features.set_index("item_id"), want, cols)
    # every item's latest row is the data's last week close
    assert (got.staleness["feature_at"] == want["available_at"].max()).all()


@pytest.mark.integration
def test_unknown_items_get_nulls_and_are_listed(deployment):
    cfg, frames, _ = deployment
    known = frames["items"]["item_id"].iloc[0]
    res = features.online_features(cfg, ["nope", known, "nope", "also-missing", known])
    feats, unknown, staleness = res  # unpacks as a tuple
    assert unknown == ["nope", "also-missing"]
    assert list(feats["item_id"]) == ["nope", known, "nope", "also-missing", known]
    value_cols = [c for c in feats.columns if c != "item_id"]
    assert feats.loc[feats["item_id"] != known, value_cols].isna().all().all()
    assert feats.loc[feats["item_id"] == known, "units"].notna().all()
    assert staleness.loc[staleness["item_id"] != known, "feature_at"].isna().all()
    assert staleness.loc[staleness["item_id"] != known, "is_stale"].all()
    empty = features.online_features(cfg, [])
    assert empty.features.empty and empty.unknown_items == []


@pytest.mark.integration
def test_staleness_is_measured_from_the_row_stamp(deployment):
    cfg, frames, _ = deployment
    last_close = frames["item_weeks"]["available_at"].max().to_pydatetime()
    ids = list(frames["items"]["item_id"].iloc[:3])
    fresh = features.online_features(cfg, ids, as_of=last_close + timedelta(days=3)).staleness
    assert (fresh["age"] == pd.Timedelta(days=3)).all() and not fresh["is_stale"].any()
    ttl = timedelta(weeks=cfg.feast.ttl_weeks)
    old = features.online_features(cfg, ids, as_of=last_close + ttl + timedelta(days=1)).staleness
    assert old["is_stale"].all()
    # the online store itself does not enforce the ttl: values still come back
    late = features.online_features(cfg, ids, as_of=last_close + ttl * 3)
    assert late.features["units"].notna().all()


@pytest.mark.integration
def test_apply_removes_objects_no_longer_declared(deployment):
    from feast import FeatureService

    cfg, _, _ = deployment
    store = features.feature_store(cfg)
    fv = store.get_feature_view(features.WEEKLY_VIEW)
    store.apply([FeatureService(name="retired_v0", features=[fv])])
    assert "retired_v0" in {s.name for s in features.feature_store(cfg).list_feature_services()}
    out = features.apply(cfg)
    assert "retired_v0" in out["removed"]
    assert {s.name for s in features.feature_store(cfg).list_feature_services()} == {
        "training_v1", "serving_v1", "load_training_v1", "load_serving_v1"}


@pytest.mark.integration
def test_a_new_publish_is_read_without_another_apply(tmp_path):
    cfg = write_config(tmp_path, SOURCES)
    publish_snapshot(cfg.data_dir, "run1", n_items=20, n_weeks=20, seed=1)
    features.apply(cfg)
    features.materialize(cfg)
    # the next publish: more weeks and other values, the marts link switched atomically
    _, frames2 = publish_snapshot(cfg.data_dir, "run2", n_items=25, n_weeks=24, seed=2)
    last_close = frames2["item_weeks"]["available_at"].max()
    ent = pd.DataFrame({"item_id": frames2["items"]["item_id"], "event_timestamp": last_close})
    offline = features.historical_features(cfg, ent)  # no apply in between
    want = expected_online(frames2).loc[list(ent["item_id"])]
    assert_same_features(offline.set_index("item_id"), want, ["units", "units_lookback_sum"])
    features.materialize(cfg)
    online = features.online_features(cfg, list(want.index))
    assert online.unknown_items == []
    assert_same_features(online.features.set_index("item_id"), want, ["units", "revenue", "description"])


@pytest.mark.integration
def test_redis_online_store(deployment, redis_binary, tmp_path, monkeypatch):
    cfg, frames, _ = deployment
    with redis_server(redis_binary) as conn:
        monkeypatch.setenv("DARKHORSE_ONLINE_STORE", "redis")
        monkeypatch.setenv("DARKHORSE_REDIS", conn)
        store = features.feature_store(cfg)
        assert store.config.online_store.type == "redis"
        summary = features.materialize(cfg, store=store)
        assert summary["online_store"] == "redis"
        want = expected_online(frames)
        ids = [*want.index[:25], "nope"]
        got = features.online_features(cfg, ids, store=store)
        assert got.unknown_items == ["nope"]
        by_item = got.features.set_index("item_id")
        cols = [c for c in got.features.columns if c != "item_id"]
        assert_same_features(by_item.loc[list(want.index[:25])], want.loc[list(want.index[:25])], cols)
        assert by_item.loc["nope", cols].isna().all()
        stamp = got.staleness.set_index("item_id")["feature_at"]
        assert (stamp.loc[list(want.index[:25])] == want["available_at"].max()).all()


@pytest.mark.integration
def test_materialize_covers_history_far_from_today(deployment):
    cfg, frames, _ = deployment
    lo, hi = features.data_time_range(cfg)
    assert lo == frames["item_weeks"]["available_at"].min().to_pydatetime()
    assert hi == frames["item_weeks"]["available_at"].max().to_pydatetime()
    assert hi.tzinfo is not None and hi.utcoffset() == UTC.utcoffset(None)


@pytest.mark.integration
def test_reading_before_apply_says_what_to_do(tmp_path):
    cfg = write_config(tmp_path, SOURCES)
    publish_snapshot(cfg.data_dir, "run1", n_items=3, n_weeks=4, seed=1)
    with pytest.raises(features.FeatureStoreError, match="darkhorse build"):
        features.online_features(cfg, ["I000000"])


@pytest.mark.integration
def test_historical_rows_keep_their_order_duplicates_and_columns(deployment):
    cfg, frames, _ = deployment
    iw = frames["item_weeks"]
    picked = iw.sample(30, random_state=1)
    ent = pd.DataFrame(
        {"item_id": picked["item_id"].to_numpy(), "event_timestamp": picked["available_at"].to_numpy(),
         "note": np.arange(30)},
        index=np.arange(100, 130)[::-1],
    )
    ent = pd.concat([ent, ent.iloc[:5]])  # duplicates stay
    got = features.historical_features(cfg, ent)
    assert list(got.index) == list(ent.index) and list(got["note"]) == list(ent["note"])
    want = pd.concat([picked, picked.iloc[:5]])
    np.testing.assert_array_equal(got["units"].to_numpy(), want["units"].to_numpy())
    np.testing.assert_array_equal(got["week_of_year"].astype("int64").to_numpy(), want["week_of_year"].to_numpy())
