"""The interval load panel through Feast: point in time offline, the latest window online."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from darkhorse.app.build import build
from darkhorse.core import features
from tests.conftest import REPO, write_config

pytestmark = pytest.mark.integration

RAW = REPO / "data" / "raw" / "request_load"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_feast")
    rows = [{"item": "a", "date": d.strftime("%Y-%m-%d"), "qty": 1.0 + i}
            for i, d in enumerate(pd.date_range("2014-03-07", periods=8, freq="7D"))]
    pd.DataFrame(rows).to_csv(tmp / "sales.csv", index=False)
    sources = [
        {"name": "shop", "kind": "sales", "path": str(tmp / "sales.csv"), "granularity": "weekly",
         "columns": {"item_id": "item", "date": "date", "quantity": "qty"}},
        {"name": "elb", "kind": "request_log", "path": str(RAW / "elb_request_count_8c0756.csv"),
         "columns": {"timestamp": "timestamp", "count": "value"}},
    ]
    cfg = write_config(tmp, sources)  # load.grain defaults to 1h
    build(cfg, progress=lambda *_: None)
    panel = duckdb.sql(
        f"select * from read_parquet('{cfg.marts_dir}/series_intervals.parquet') order by interval_start"
    ).df()
    return cfg, panel


def test_point_in_time_rows_are_the_last_closed_interval(deployed):
    cfg, panel = deployed
    rng = np.random.default_rng(0)
    lo, hi = panel["interval_start"].min(), panel["available_at"].max()
    stamps = [lo + pd.Timedelta(minutes=int(m)) for m in rng.integers(0, int((hi - lo).total_seconds() // 60), 40)]
    stamps += [panel["available_at"].iloc[5], panel["available_at"].iloc[5] - pd.Timedelta(seconds=1)]
    entities = pd.DataFrame({"series_id": "requests", "event_timestamp": stamps})
    got = features.series_historical_features(cfg, entities)
    for ts, requests, lookback in zip(stamps, got["requests"], got["requests_lookback_sum"], strict=True):
        closed = panel[panel["available_at"] <= ts]
        if closed.empty:
            assert pd.isna(requests)
            continue
        last = closed.iloc[-1]  # the latest interval that had closed by ts, never a later one
        assert requests == pytest.approx(last["requests"])
        assert lookback == pytest.approx(last["requests_lookback_sum"])
    assert got["requests"].iloc[-2] == pytest.approx(panel["requests"].iloc[5])
    assert got["requests"].iloc[-1] == pytest.approx(panel["requests"].iloc[4])


def test_online_store_serves_the_latest_window_of_a_series(deployed):
    cfg, panel = deployed
    got = features.series_online_features(cfg, ["requests", "no-such-series"])
    last = panel.iloc[-1]
    assert got["series_id"].tolist() == ["requests", "no-such-series"]
    assert got["requests"].iloc[0] == pytest.approx(last["requests"])
    assert got["requests_day_ago"].iloc[0] == pytest.approx(last["requests_day_ago"])
    assert got["feature_at"].iloc[0] == last["available_at"]
    assert pd.isna(got["requests"].iloc[1]) and pd.isna(got["feature_at"].iloc[1])
