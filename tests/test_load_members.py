"""Load forecasters at an interval grain (training/load): by hand, and the replay's time order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.load import (
    LoadFrameError,
    create,
    periods,
    quantile_average,
    rolling_forecasts,
    validate_intervals,
)


def _frame(y, freq="1h", start="2024-01-01", sid="s"):
    return pd.DataFrame({"unique_id": sid, "ds": pd.date_range(start, periods=len(y), freq=freq), "y": y})


def test_periods_follow_the_grain():
    assert periods("5min") == {"day": 288, "week": 2016}
    assert periods("1h") == {"day": 24, "week": 168}
    with pytest.raises(LoadFrameError, match="divide a day"):
        periods("7h")


def test_frames_must_be_regular_and_non_negative():
    df = _frame(np.ones(10), freq="15min")
    assert len(validate_intervals(df, "15min")) == 10
    with pytest.raises(LoadFrameError, match="not regular at 15min"):
        validate_intervals(df.drop(index=4), "15min")
    with pytest.raises(LoadFrameError, match="not regular at 5min"):
        validate_intervals(df, "5min")
    bad = df.copy()
    bad.loc[3, "y"] = -1
    with pytest.raises(LoadFrameError, match="non-negative"):
        validate_intervals(bad, "15min")


def test_seasonal_naive_by_hand():
    # two days of hourly load rising by 1 an hour: the same hour yesterday is 24 less, always
    y = np.arange(48, dtype=float)
    model = create("seasonal_naive", period="day").fit(_frame(y), freq="1h", horizon=30)
    fc = model.predict(h=30, quantiles=[0.1, 0.9])
    assert fc["seasonal_naive"].iloc[:24].tolist() == y[24:].tolist()
    # steps 25..30 have no observed interval one day earlier: two days earlier
    assert fc["seasonal_naive"].iloc[24:].tolist() == y[24:30].tolist()
    # its own errors at lag 24 are all +24; at lag 48 there are none (too short): zero width
    assert (fc["seasonal_naive-q10"].iloc[:24] == fc["seasonal_naive"].iloc[:24] + 24).all()
    assert fc["ds"].iloc[0] == pd.Timestamp("2024-01-03 00:00")
    assert fc["ds"].diff().dropna().eq(pd.Timedelta("1h")).all()


def test_seasonal_naive_week_falls_back_to_the_last_value_when_short():
    y = np.array([3.0, 5.0, 4.0])
    fc = create("seasonal_naive", period="week").fit(_frame(y, "30min"), freq="30min", horizon=2).predict(h=2)
    assert fc["seasonal_naive"].tolist() == [4.0, 4.0]


def test_mstl_learns_a_daily_and_weekly_shape_and_its_interval_holds():
    coverage = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        t = np.arange(24 * 7 * 8 + 24)  # eight weeks, the next day held out
        truth = 100 + 40 * np.sin(2 * np.pi * t / 24) + 15 * (t // 24 % 7 >= 5)
        y = truth + rng.normal(0, 2, t.size)
        fc = create("mstl").fit(_frame(y[:-24]), freq="1h", horizon=24).predict(h=24, quantiles=[0.05, 0.5, 0.95])
        assert np.mean(np.abs(fc["mstl"].to_numpy() - truth[-24:])) < 2  # noise sd 2: the shape is learnt
        assert (fc["mstl-q95"] >= fc["mstl-q5"]).all()
        coverage.append(np.mean((y[-24:] >= fc["mstl-q5"].to_numpy()) & (y[-24:] <= fc["mstl-q95"].to_numpy())))
    assert np.mean(coverage) >= 0.75  # a 90% interval, from errors on a held-out day


def test_quantile_average_by_hand():
    a = pd.DataFrame({"unique_id": "s", "ds": [1, 2], "a": [1.0, 3.0], "a-q90": [2.0, 5.0]})
    b = pd.DataFrame({"unique_id": "s", "ds": [1, 2], "b": [3.0, 5.0], "b-q90": [4.0, 9.0]})
    out = quantile_average([a, b], ["a", "b"], alias="e", quantiles=[0.9])
    assert out["e"].tolist() == [2.0, 4.0] and out["e-q90"].tolist() == [3.0, 7.0]
    with pytest.raises(LoadFrameError, match="different"):
        quantile_average([a, b.assign(ds=[1, 3])], ["a", "b"], quantiles=[0.9])


def test_replay_forecasts_each_interval_once_from_data_closed_before_its_decision():
    rng = np.random.default_rng(1)
    y = rng.poisson(50, 24 * 4).astype(float)
    df = _frame(y)
    start = df["ds"].iloc[-30]
    members = {"sn": lambda: create("seasonal_naive", period="day")}
    fc = rolling_forecasts(df, freq="1h", members=members, eval_start=start, lead=2, refit_every=5, quantiles=[0.5, 0.9])
    assert fc["ds"].tolist() == df["ds"].iloc[-30:].tolist()  # every interval once, in order
    assert ((fc["ds"] - fc["cutoff"]) / pd.Timedelta("1h") >= 3).all()  # step >= lead + 1
    assert (fc["y"].to_numpy() == y[-30:]).all()
    # no leakage: changing every value after an origin leaves that origin's forecasts unchanged
    origin = fc["cutoff"].iloc[10]
    later = df.assign(y=np.where(df["ds"] > origin, 1e6, df["y"]))
    again = rolling_forecasts(later, freq="1h", members=members, eval_start=start, lead=2, refit_every=5, quantiles=[0.5, 0.9])
    same = fc["cutoff"] <= origin
    assert np.allclose(fc.loc[same, "sn-q90"], again.loc[same, "sn-q90"])
    assert not np.allclose(fc.loc[~same, "sn-q90"], again.loc[~same, "sn-q90"])  # later origins see it
