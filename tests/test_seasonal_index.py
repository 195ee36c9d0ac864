"""The seasonal-index member: last season's weeks times the recent growth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.models import create


def _frame(values: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = []
    for uid, y in values.items():
        ds = pd.date_range("2020-01-06", periods=len(y), freq="W-MON")
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


def _seasonal(n: int, m: int, growth: float) -> np.ndarray:
    pattern = 10.0 + 40.0 * (np.arange(m) == m - 3) + 5.0 * np.sin(np.arange(m))
    return np.array([pattern[t % m] * growth**t for t in range(n)])


def test_seasonal_series_with_growth_is_forecast_exactly():
    m, n, h = 13, 40, 10
    full = _seasonal(n + h, m, 1.02)
    model = create("seasonal_index", season_length=m, window=4, smooth=0, damping=1.0,
                   level_floor=0.0, max_ratio=10.0)
    fc = model.fit(_frame({"a": full[:n]})).predict(h=h)
    np.testing.assert_allclose(fc["seasonal_index"].to_numpy(), full[n:], rtol=1e-9)
    # the spike three weeks before the season's end is carried at its grown size
    assert fc["seasonal_index"].max() > 3 * fc["seasonal_index"].median()


def test_beyond_one_season_applies_the_growth_once_per_season():
    m, n, h = 6, 30, 14
    full = _seasonal(n + h, m, 1.05)
    model = create("seasonal_index", season_length=m, window=3, smooth=0, damping=1.0,
                   level_floor=0.0, max_ratio=10.0)
    fc = model.fit(_frame({"a": full[:n]})).predict(h=h)
    np.testing.assert_allclose(fc["seasonal_index"].to_numpy(), full[n:], rtol=1e-9)


def test_no_look_ahead_and_short_history_falls_back_to_recent_level():
    m = 8
    rng = np.random.default_rng(0)
    long_y = rng.gamma(2.0, 5.0, size=30)
    short_y = np.array([3.0, 5.0, 7.0, 9.0, 11.0])  # less than a season + window
    cut = 24
    model = create("seasonal_index", season_length=m, window=4)
    fc = model.fit(_frame({"a": long_y[:cut], "b": short_y})).predict(h=3)
    # the forecast from the first 24 weeks does not change when the later weeks do
    altered = long_y.copy()
    altered[cut:] *= 100.0
    fc2 = create("seasonal_index", season_length=m, window=4).fit(
        _frame({"a": altered[:cut], "b": short_y})).predict(h=3)
    pd.testing.assert_frame_equal(fc, fc2)
    b = fc[fc["unique_id"] == "b"]["seasonal_index"].to_numpy()
    np.testing.assert_allclose(b, np.full(3, short_y[-4:].mean()))
    # series a, by hand: smoothed season-ago weeks times the damped, clipped ratio
    y = long_y[:cut]
    ratio = (y[-4:].mean() + 1.0) / (y[-4 - m:-m].mean() + 1.0)
    r = np.exp(np.clip(np.log(ratio), -np.log(3.0), np.log(3.0)) * 0.7)
    t = cut - m  # index of the first target week one season earlier
    expect = [y[t - 1:t + 2].mean() * r, y[t:t + 3].mean() * r, y[t + 1:t + 4].mean() * r]
    np.testing.assert_allclose(fc[fc["unique_id"] == "a"]["seasonal_index"].to_numpy(), expect)


def test_intervals_widen_with_noise_and_hold_the_point():
    m = 6
    rng = np.random.default_rng(1)
    base = _seasonal(60, m, 1.0)
    quiet, noisy = base + rng.normal(0, 0.1, 60), base + rng.normal(0, 5.0, 60)
    fc = create("seasonal_index", season_length=m, window=3, smooth=0).fit(
        _frame({"q": quiet, "n": noisy})).predict(h=4, quantiles=[0.1, 0.5, 0.9])
    width = (fc["seasonal_index-q90"] - fc["seasonal_index-q10"]).groupby(fc["unique_id"]).mean()
    assert width["n"] > 10 * width["q"]
    np.testing.assert_allclose(fc["seasonal_index-q50"], fc["seasonal_index"])
