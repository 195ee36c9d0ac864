"""The streaming load predictor (darkhorse/serving/load.py): seed, observe, forecast, plan, restart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.config import LoadPlanConfig
from darkhorse.serving import api
from darkhorse.serving.engine import RequestError
from darkhorse.serving.load import LoadRoutes, LoadStream
from tests.conftest import write_config


def _panel(n=48, freq="1h"):
    ds = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC")
    return pd.DataFrame({"unique_id": "api", "ds": ds, "y": np.arange(n, dtype=float)})


@pytest.fixture
def stream(tmp_path):
    return LoadStream.open(tmp_path / "state", _panel(), freq="1h", params={"period": "day"})


def test_forecast_continues_the_buffer_by_hand(stream):
    fc = stream.forecast("api", 3, [0.1, 0.9])
    assert fc["ds"].iloc[0] == pd.Timestamp("2024-01-03 00:00", tz="UTC")
    assert fc["point"].tolist() == [24.0, 25.0, 26.0]  # the same hour one day before
    assert (fc["q0.1"] == fc["point"] + 24).all()  # its errors at lag 24 are all +24


def test_observe_appends_reports_late_points_and_fills_gaps(stream):
    out = stream.observe("api", ["2024-01-03T00:00:00Z", "2024-01-03T02:00:00Z"], [100.0, 7.0])
    assert out.accepted == 2 and out.filled == 1 and out.late == []
    assert out.last_interval == "2024-01-03T02:00:00+00:00"
    again = stream.observe("api", ["2024-01-03T02:00:00Z", "2024-01-03T03:00:00Z"], [1.0, 2.0])
    assert again.accepted == 1 and again.late == ["2024-01-03T02:00:00+00:00"]
    fc = stream.forecast("api", 1, [0.5])
    assert fc["ds"].iloc[0] == pd.Timestamp("2024-01-03 04:00", tz="UTC")
    assert fc["point"].iloc[0] == 28.0  # 04:00 one day before


@pytest.mark.parametrize(
    ("series", "stamps", "values", "field"),
    [
        ("nope", ["2024-01-03T00:00:00Z"], [1.0], "series_id"),
        ("api", ["2024-01-03T00:30:00Z"], [1.0], "timestamps"),
        ("api", ["2024-01-03T01:00:00Z", "2024-01-03T00:00:00Z"], [1.0, 1.0], "timestamps"),
        ("api", ["2024-01-03T00:00:00Z"], [-1.0], "values"),
        ("api", ["2024-01-03T00:00:00Z"], [float("nan")], "values"),
        ("api", ["2024-01-03T00:00:00Z"], [1.0, 2.0], "values"),
        ("api", ["yesterday-ish"], [1.0], "timestamps"),
    ],
)
def test_bad_observations_name_the_field_and_change_nothing(stream, series, stamps, values, field):
    before = stream.last_interval("api")
    with pytest.raises(RequestError) as e:
        stream.observe(series, stamps, values)
    assert e.value.field == field
    assert stream.last_interval("api") == before


def test_state_survives_a_restart(tmp_path):
    first = LoadStream.open(tmp_path / "s", _panel(), freq="1h")
    first.observe("api", ["2024-01-03T00:00:00Z"], [500.0])
    # a new process on the same folder: the observation is there, the panel is not read again
    second = LoadStream.open(tmp_path / "s", None, freq="1h")
    assert second.last_interval("api") == pd.Timestamp("2024-01-03 00:00", tz="UTC")
    assert second.forecast("api", 24, [0.5])["point"].iloc[-1] == 500.0
    with pytest.raises(RequestError, match="another format or grain"):
        LoadStream.open(tmp_path / "s", None, freq="30min")


def test_plan_route_turns_the_forecast_into_replicas(stream):
    routes = LoadRoutes(stream, LoadPlanConfig(throughput_per_replica=10, quantile=0.95, lead_intervals=1, cooldown_intervals=0))
    out = routes.plan(api.LoadPlanRequest(series_id="api", horizon=4))
    fc = stream.forecast("api", 4, [0.95])
    q95 = fc["q0.95"].to_numpy()
    replicas = np.array([i.replicas for i in out.intervals])
    assert (replicas * 10 >= q95 * (1 - 1e-9)).all() and ((replicas - 1) * 10 < q95).all()
    assert [i.actionable for i in out.intervals] == [False, True, True, True]  # lead 1
    assert out.replica_hours == replicas.sum()  # hourly grain
    assert out.expected_intervals_over_capacity <= 4 * 0.05 + 1e-9
    # the request's settings win over the config's
    wider = routes.plan(api.LoadPlanRequest(series_id="api", horizon=4, throughput_per_replica=1000))
    assert all(i.replicas == 1 for i in wider.intervals)
    with pytest.raises(RequestError) as e:
        routes.plan(api.LoadPlanRequest(series_id="api", min_replicas=9, max_replicas=3))
    assert e.value.field == "max_replicas"


def test_routes_from_a_config_seed_from_the_published_panel(tmp_path):
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "sales", "path": "sales.csv"}])
    cfg.marts_dir.mkdir(parents=True)
    panel = _panel().rename(columns={"unique_id": "series_id", "ds": "interval_start", "y": "requests"})
    panel.to_parquet(cfg.marts_dir / "series_intervals.parquet")
    routes = LoadRoutes.from_config(cfg)  # load.grain defaults to 1h
    out = routes.observe(api.LoadObserveRequest(series_id="api", timestamps=["2024-01-03T00:00:00Z"], values=[3.0]))
    assert out.accepted == 1 and (cfg.data_dir / "load_state").is_dir()
    fc = routes.forecast(api.LoadForecastRequest(series_id="api", horizon=2, quantiles=[0.5, 0.9]))
    assert [i.point for i in fc.intervals] == [25.0, 26.0] and set(fc.intervals[0].quantiles) == {"q0.5", "q0.9"}


def test_forecasts_are_cached_until_an_observe_changes_the_buffer(stream):
    first = stream.forecast("api", 3, [0.1, 0.9])
    first.loc[0, "point"] = -1.0  # a caller's edit does not reach the cache
    second = stream.forecast("api", 3, [0.1, 0.9])
    assert stream.cache_info() == {"computed": 1, "cached": 1}
    assert second["point"].tolist() == [24.0, 25.0, 26.0]
    stream.forecast("api", 3, [0.5])  # another question of the same buffer is computed once
    stream.forecast("api", 3, [0.5])
    assert stream.cache_info() == {"computed": 2, "cached": 2}
    # a late point alone leaves the buffer, and so the cache, as it was
    assert stream.observe("api", ["2024-01-02T23:00:00Z"], [9.0]).accepted == 0
    stream.forecast("api", 3, [0.1, 0.9])
    assert stream.cache_info() == {"computed": 2, "cached": 3}
    # an accepted point changes the buffer: the next forecast starts after it
    stream.observe("api", ["2024-01-03T00:00:00Z"], [100.0])
    after = stream.forecast("api", 3, [0.1, 0.9])
    assert stream.cache_info() == {"computed": 3, "cached": 3}
    assert after["ds"].iloc[0] == pd.Timestamp("2024-01-03 01:00", tz="UTC")
    assert after["point"].tolist() == [25.0, 26.0, 27.0]


def test_cached_answers_of_a_trained_model_equal_fresh_ones(tmp_path):
    from training.load import create

    panel = _panel(n=72)
    fitted = create("seasonal_naive", period="day").fit(panel, freq="1h", horizon=24)
    cached = LoadStream.open(tmp_path / "a", panel, freq="1h", fitted=fitted)
    asks = [(3, [0.1, 0.9]), (24, [0.5]), (3, [0.1, 0.9]), (24, [0.5])]
    got = [cached.forecast("api", h, q) for h, q in asks]
    assert cached.cache_info() == {"computed": 2, "cached": 2}
    for (h, q), frame in zip(asks, got, strict=True):
        fresh = LoadStream.open(tmp_path / f"fresh{h}{len(q)}", panel, freq="1h", fitted=fitted)
        pd.testing.assert_frame_equal(frame, fresh.forecast("api", h, q))
    # an observe invalidates the trained model's answers too
    cached.observe("api", ["2024-01-04T00:00:00Z"], [7.0])
    assert cached.forecast("api", 3, [0.1, 0.9])["ds"].iloc[0] == pd.Timestamp("2024-01-04 01:00", tz="UTC")
    assert cached.cache_info() == {"computed": 3, "cached": 2}
