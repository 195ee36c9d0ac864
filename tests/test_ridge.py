"""The global ridge member: recovers a known linear process, reads the season, never reads a week
after its origin, and its weighting and loss do what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.models import create
from training.models.base import series_matrix


def _frame(values: np.ndarray, start: str = "2019-01-07") -> pd.DataFrame:
    n, w = values.shape
    ds = pd.date_range(start, periods=w, freq="7D")
    return pd.DataFrame({
        "unique_id": np.repeat([f"s{i:03d}" for i in range(n)], w),
        "ds": np.tile(ds, n),
        "y": values.reshape(-1),
    })


def _ar1(n: int, w: int, phi: float, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) around each series' own mean (levels 20..200): y[t+1] = mu + phi (y[t] - mu) + e."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(20, 200, n)
    y = np.empty((n, w))
    y[:, 0] = mu
    for t in range(1, w):
        y[:, t] = mu + phi * (y[:, t - 1] - mu) + rng.normal(0, sigma, n) * mu / 100
    return y, mu


def test_recovers_a_linear_ar_process():
    phi = 0.8
    y, mu = _ar1(150, 120, phi, sigma=8.0, seed=0)
    model = create("ridge", seasonal=False).fit(_frame(y), horizon=3)
    fc = model.predict(h=3, quantiles=[0.1, 0.5, 0.9]).sort_values(["unique_id", "ds"])
    got = fc["ridge"].to_numpy().reshape(150, 3)
    last = y[:, -1]
    # the process's own conditional mean k steps ahead
    truth = mu[:, None] + phi ** np.arange(1, 4)[None, :] * (last - mu)[:, None]
    noise = 8.0 * mu / 100
    err = np.abs(got - truth) / noise[:, None]
    assert np.median(err[:, 0]) < 0.2, np.median(err[:, 0])
    # far better than the last week (naive), which ignores the pull back to the mean
    naive = np.abs(last[:, None] - truth) / noise[:, None]
    assert np.mean(err) < 0.5 * np.mean(naive)
    # the 80% band holds about 80% of fresh draws one step ahead
    rng = np.random.default_rng(1)
    draw = truth[:, 0] + rng.normal(0, 1, 150) * noise
    lo = fc["ridge-q10"].to_numpy().reshape(150, 3)[:, 0]
    hi = fc["ridge-q90"].to_numpy().reshape(150, 3)[:, 0]
    assert 0.65 < np.mean((draw >= lo) & (draw <= hi)) < 0.95


def test_reads_the_season_from_a_year_earlier():
    rng = np.random.default_rng(2)
    n, w = 80, 160
    t = np.arange(w)
    season = 1 + 0.6 * np.sin(2 * np.pi * t / 52) + 0.8 * (t % 52 == 47)  # a yearly peak too
    level = rng.uniform(50, 500, n)
    y = level[:, None] * season[None, :] * rng.lognormal(0, 0.01, (n, w))
    train, test = y[:, :-12], y[:, -12:]
    scale = np.mean(np.abs(np.diff(train, axis=1)), axis=1)[:, None]
    mase = {"seasonal_naive": float(np.mean(np.abs(train[:, -52:-40] - test) / scale))}
    for seasonal in (True, False):
        fc = create("ridge", seasonal=seasonal).fit(_frame(train), horizon=12).predict(h=12)
        got = fc.sort_values(["unique_id", "ds"])["ridge"].to_numpy().reshape(n, 12)
        mase[seasonal] = float(np.mean(np.abs(got - test) / scale))
    assert mase[True] < 0.5 * mase[False], mase
    assert mase[True] < 1.2 * mase["seasonal_naive"], mase


@pytest.mark.parametrize("k", [1, 13, 51, 52, 53])
def test_features_of_an_origin_never_read_a_later_week(k):
    """Changing every week after origin column c leaves the features of the rows at c unchanged
    (the seasonal lags around t + k - 52 included, for steps beyond the season)."""
    rng = np.random.default_rng(3)
    y = rng.uniform(1, 50, (5, 130))
    model = create("ridge").fit(_frame(y), horizon=2)
    c = 100
    later = y.copy()
    later[:, c + 1:] = rng.uniform(100, 900, (5, 130 - c - 1))
    feats = []
    for m in (y, later):
        level, base = model._base(m)
        feats.append(model._design(base, m, level, k)[:, c, :])
    np.testing.assert_array_equal(feats[0], feats[1])


def test_the_forecast_depends_on_the_history_it_was_given_only():
    """Data after the cutoff changes nothing: a fit on the history up to a week is the same
    whatever followed it."""
    rng = np.random.default_rng(4)
    y = rng.poisson(20, (30, 90)).astype("float64")
    other = y.copy()
    other[:, 70:] = rng.poisson(300, (30, 20))
    cut = pd.Timestamp("2019-01-07") + pd.Timedelta(weeks=69)
    out = []
    for m in (y, other):
        f = _frame(m)
        out.append(create("ridge").fit(f[f["ds"] <= cut], horizon=4).predict(h=4))
    pd.testing.assert_frame_equal(out[0], out[1])


def test_l1_is_robust_to_outlier_weeks_and_l2_is_not():
    y, _ = _ar1(100, 100, 0.5, sigma=4.0, seed=5)
    clean = y[:, -1:].copy()
    spiky = y.copy()
    rng = np.random.default_rng(6)
    mask = rng.random(spiky.shape) < 0.03
    spiky[mask] *= 15  # rare promotions: 3% of weeks at 15x
    spiky[:, -1] = clean[:, 0]
    med = {}
    for loss in ("l1", "l2"):
        fc = create("ridge", loss=loss, seasonal=False).fit(_frame(spiky), horizon=1).predict(h=1)
        med[loss] = float(np.median(fc.sort_values("unique_id")["ridge"].to_numpy() / y.mean(axis=1)))
    # the median forecast stays near the typical week; least squares chases the spikes
    assert abs(med["l1"] - 1) < 0.15, med
    assert med["l2"] > med["l1"] + 0.1, med


def test_right_aligned_rows_match_the_fitted_series():
    y = np.arange(1, 41, dtype="float64").reshape(2, 20)
    f = _frame(y).iloc[3:]  # the first series starts 3 weeks later
    model = create("ridge", n_lags=2, max_origins=10).fit(f, horizon=2)
    mat, lengths, _ = series_matrix(f)
    assert list(lengths) == [17, 20]
    np.testing.assert_array_equal(model.y_[:, -1], mat[:, -1])
    with pytest.raises(ValueError, match="trained for horizons up to 2"):
        model.predict(h=3)
