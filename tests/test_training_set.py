"""Point-in-time training sets: no feature from the future, labels and targets kept apart.

The leakage check runs on purpose-built marts whose weekly rows closing after `SENTINEL_AFTER`
carry sentinel values (1e9 units, ...): the training set at every origin is compared with a
brute-force as-of join in pandas, and no sentinel may appear at an origin before that instant.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from darkhorse.core import features
from synthetic.marts import SENTINEL_FLOAT, SENTINEL_INT, SENTINEL_INT32, publish_snapshot
from tests.conftest import write_config
from training.dataset import LABEL_COLUMNS, TrainingSetError, build_training_set

pytestmark = pytest.mark.integration

START = date(2021, 1, 4)  # a Monday
N_WEEKS = 40
HORIZON = 6
SENTINEL_AFTER = datetime(2021, 7, 5, tzinfo=UTC)  # the close of week 25 (2021-06-28)
SENTINELS = (SENTINEL_FLOAT, SENTINEL_INT, SENTINEL_INT32)
# the static text features: compared as text, never as numbers
TEXT = ("source_kind", "description", "category", "brand")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    cfg = write_config(
        tmp_path_factory.mktemp("training"),
        [{"name": "synthetic", "kind": "amazon_reviews", "path": "raw.jsonl"}],
        panel={"horizon_weeks": HORIZON},
    )
    _, frames = publish_snapshot(
        cfg.data_dir, "run1", n_items=70, n_weeks=N_WEEKS, start=START, seed=11,
        horizon=HORIZON, launch_share=0.4, sentinel_after=SENTINEL_AFTER,
    )
    features.apply(cfg)
    return cfg, frames, features.feature_store(cfg)


def week(k: int) -> date:
    return START + timedelta(weeks=k)


def brute_force_features(frames, keys: pd.DataFrame, ttl: timedelta) -> pd.DataFrame:
    """As-of join in pandas: per row, the item's latest week with available_at <= cutoff and
    no older than the ttl; static columns when the item's first week had closed."""
    iw = frames["item_weeks"].sort_values("available_at")
    left = keys.reset_index().sort_values("cutoff")
    left["cutoff"] = pd.to_datetime(left["cutoff"], utc=True).astype("datetime64[ns, UTC]")
    right = iw.drop(columns=["week_start"]).copy()
    right["available_at"] = right["available_at"].astype("datetime64[ns, UTC]")
    joined = pd.merge_asof(
        left, right, left_on="cutoff", right_on="available_at", by="item_id",
        direction="backward", allow_exact_matches=True, tolerance=pd.Timedelta(ttl),
    )
    items = frames["items"][["item_id", *TEXT, "first_week", "first_available_at"]]
    joined = joined.merge(items, on="item_id", how="left")
    hidden = ~(joined["first_available_at"] <= joined["cutoff"])
    joined.loc[hidden, [*TEXT, "first_week"]] = None
    return joined.set_index("index").sort_index()


def compare(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        g, w = got[col].reset_index(drop=True), want[col].reset_index(drop=True)
        if col == "first_week":
            gw = pd.to_datetime(g, utc=True)
            ww = pd.to_datetime(w, utc=True)
            assert ((gw == ww) | (gw.isna() & ww.isna())).all(), col
        elif col in TEXT:
            assert [x if isinstance(x, str) else None for x in g] == [
                x if isinstance(x, str) else None for x in w], col
        else:
            np.testing.assert_allclose(
                g.astype("float64").to_numpy(), w.astype("float64").to_numpy(), err_msg=col
            )


def test_no_feature_comes_from_a_week_closing_after_its_origin(panel):
    cfg, frames, store = panel
    origins = [week(k) for k in range(N_WEEKS + 3)]  # past the data's end too
    ts = build_training_set(cfg, origins=origins, store=store)
    assert len(ts) > 1000
    want = brute_force_features(frames, ts.features[["item_id", "cutoff"]], timedelta(weeks=cfg.feast.ttl_weeks))
    compare(ts.features, want, ts.feature_names)

    numeric = [c for c in ts.feature_names if c not in (*TEXT, "first_week")]
    values = ts.features[numeric].astype("float64")
    planted = values.isin(SENTINELS).any(axis=1)
    before = ts.features["cutoff"] <= SENTINEL_AFTER
    assert before.sum() > 500 and (~before).sum() > 500
    assert not planted[before].any(), "a feature at an origin saw a week that had not closed"
    assert planted[~before].all()  # the sentinel weeks are visible once they have closed


def test_a_mid_week_cutoff_does_not_see_the_week_in_progress(panel):
    cfg, frames, store = panel
    iw = frames["item_weeks"]
    has_prev = (iw["weeks_since_first_event"] >= 1) & (iw["weeks_since_first_event"] < SENTINEL_INT32)
    rows = iw[has_prev & (iw["week_start"] > week(2))].sample(400, random_state=0)
    week_open = pd.to_datetime(rows["week_start"]).dt.tz_localize("UTC")
    close = rows["available_at"]
    cutoffs = {
        "mid-week": week_open + pd.Timedelta(days=3, hours=12),
        "a microsecond before the close": close - pd.Timedelta(microseconds=1),
        "at the close": close,
    }
    prev = iw.set_index(["item_id", "week_start"])
    for what, cutoff in cutoffs.items():
        ent = pd.DataFrame({"item_id": rows["item_id"].to_numpy(), "event_timestamp": cutoff.to_numpy()})
        got = features.historical_features(cfg, ent, store=store)
        shown = week_open.dt.date if what == "at the close" else (week_open - pd.Timedelta(weeks=1)).dt.date
        exp = prev.loc[list(zip(rows["item_id"], shown, strict=True))]
        for col in ("units", "units_lookback_sum", "weeks_since_first_event"):
            np.testing.assert_array_equal(got[col].astype("float64").to_numpy(), exp[col].astype("float64").to_numpy(), err_msg=what)


def test_requested_items_without_history_are_kept_and_counted(panel, caplog):
    cfg, frames, store = panel
    items = frames["items"].sort_values("first_week")
    early, late = items["item_id"].iloc[0], items["item_id"].iloc[-1]
    origin = week(0)
    assert items["first_week"].iloc[-1] > origin
    with caplog.at_level(logging.WARNING, logger="training.dataset"):
        ts = build_training_set(cfg, origins=[origin], items=[late, early, "ghost"], store=store)
    assert list(ts.features["item_id"]) == sorted([late, early, "ghost"])
    assert ts.n_without_history == 2
    assert "2 of 3 training rows have no weekly features" in caplog.text
    f = ts.features.set_index("item_id")
    assert f.loc[early, "units"] == frames["item_weeks"].query("item_id == @early")["units"].iloc[0]
    assert f.loc[[late, "ghost"], ts.feature_names].isna().all().all()  # static ones too: not known yet


def test_default_items_are_those_known_at_each_origin(panel):
    cfg, frames, store = panel
    ts = build_training_set(cfg, origins=[week(3), week(20)], store=store)
    items = frames["items"]
    for origin, group in ts.features.groupby("origin"):
        cutoff = pd.Timestamp(origin, tz="UTC") + pd.Timedelta(days=7)
        known = set(items.loc[items["first_available_at"] <= cutoff, "item_id"])
        assert set(group["item_id"]) == known
    assert ts.n_without_history == 0


def test_labels_and_targets_are_the_origin_weeks_future(panel):
    cfg, frames, store = panel
    items = frames["items"].sort_values("first_week")
    origins = [week(k) for k in (0, 10, N_WEEKS - 3, N_WEEKS - 1)]
    ts = build_training_set(cfg, origins=origins, items=list(items["item_id"]), store=store)
    assert list(ts.labels.columns) == ["item_id", "origin", "cutoff", *LABEL_COLUMNS]
    assert list(ts.targets.columns) == ["item_id", "origin", "cutoff", *[f"units_h{h:02d}" for h in range(1, HORIZON + 1)]]
    assert (ts.labels[["item_id", "origin"]].to_numpy() == ts.features[["item_id", "origin"]].to_numpy()).all()

    lab = frames["item_week_labels"].set_index(["item_id", "week_start"])
    units = frames["item_weeks"].set_index(["item_id", "week_start"])["units"]
    last_week = frames["item_weeks"]["week_start"].max()
    seen = {"after the data": 0, "before the item": 0}
    for row in ts.labels.itertuples():
        key = (row.item_id, row.origin)
        if key in lab.index:
            ref = lab.loc[key]
            assert row.is_label_known == ref["is_label_known"]
            assert row.label_available_at == ref["label_available_at"]
            assert (pd.isna(row.growth_score) and pd.isna(ref["growth_score"])) or np.isclose(row.growth_score, ref["growth_score"])
            assert (pd.isna(row.is_hot_seller) and pd.isna(ref["is_hot_seller"])) or row.is_hot_seller == ref["is_hot_seller"]
        else:  # the item did not exist yet at this origin: no label row
            assert pd.isna(row.growth_score) and pd.isna(row.is_label_known)
    for row in ts.targets.itertuples(index=False):
        for h in range(1, HORIZON + 1):
            wk = row.origin + timedelta(weeks=h)
            value = getattr(row, f"units_h{h:02d}")
            if wk > last_week:
                assert pd.isna(value)
                seen["after the data"] += 1
            elif (row.item_id, wk) in units.index:
                assert value == units.loc[(row.item_id, wk)]
            else:
                assert value == 0.0  # before the item's first week
                seen["before the item"] += 1
    assert min(seen.values()) > 0
    # a known label's future sum is the sum of its targets
    both = ts.to_frame()
    known = both[both["label__is_label_known"].fillna(False).astype(bool)]
    assert len(known) > 50
    tcols = [f"target__units_h{h:02d}" for h in range(1, HORIZON + 1)]
    np.testing.assert_allclose(known[tcols].sum(axis=1), known["label__units_future_sum"])


def test_features_hold_no_label_or_target(panel):
    cfg, _, store = panel
    ts = build_training_set(cfg, origins=[week(12)], store=store)
    leaky = {"units_future_sum", "growth_score", "is_hot_seller", "is_label_known", "label_available_at",
             "growth_rank", "n_candidates", "is_eligible", "total_units", "last_event_at", "last_active_week"}
    assert not leaky & set(ts.features.columns)
    frame = ts.to_frame()
    assert {"label__growth_score", "label__is_hot_seller", "target__units_h01"} <= set(frame.columns)
    assert ts.marts_snapshot.endswith(os.path.join("published", "run1"))


def test_weekly_rows_older_than_the_ttl_are_not_joined(panel):
    cfg, _, store = panel
    ttl_weeks = cfg.feast.ttl_weeks
    origins = [week(N_WEEKS - 1 + ttl_weeks), week(N_WEEKS + ttl_weeks)]
    ts = build_training_set(cfg, origins=origins, store=store)
    by_origin = dict(list(ts.features.groupby("origin")))
    inside, outside = by_origin[origins[0]], by_origin[origins[1]]
    assert inside["units"].notna().all()  # the last week closed exactly ttl before
    assert outside["units"].isna().all() and outside["description"].notna().all()
    assert ts.n_without_history == len(outside)


def test_origins_must_start_a_week(panel):
    cfg, _, store = panel
    with pytest.raises(TrainingSetError, match="not the start of a week"):
        build_training_set(cfg, origins=[week(3) + timedelta(days=2)], store=store)
    with pytest.raises(TrainingSetError, match="empty"):
        build_training_set(cfg, origins=[], store=store)
