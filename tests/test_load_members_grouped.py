"""Seasonally scaled windows, bagged boosters and blend weights per noise-ratio group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.load import create, learn_weights
from training.load.blend import learn_grouped_weights, noise_ratio
from training.load.windows import Windows

TINY_XGB = {"n_estimators": 30, "max_depth": 4, "learning_rate": 0.3, "max_train_rows": 5000}


def _panel(noise=(0.05, 0.05, 0.05, 0.05), days=10, seed=0):
    """Hourly series with a daily shape at their own volume; series i has noise `noise[i]`."""
    rng = np.random.default_rng(seed)
    n = days * 24
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * np.arange(n) / 24)
    parts = []
    for i, sd in enumerate(noise):
        y = (10 ** (i % 3 + 1)) * shape * rng.lognormal(0, sd, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq="1h"),
                                   "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_seasonal_scale_by_hand():
    win = Windows([np.array([1.0, 3.0, 2.0, 6.0, 4.0, 9.0]), np.full(6, 5.0)], day=2)
    # day-apart differences of the first series: columns 2..5 hold 1, 3, 2, 3
    np.testing.assert_allclose(win.seasonal_scale(np.array([0, 0]), np.array([5, 5]), 2)[:1], [2.5])
    np.testing.assert_allclose(win.seasonal_scale(np.array([0]), np.array([5]), 4), [2.25])
    np.testing.assert_allclose(win.seasonal_scale(np.array([0]), np.array([3]), 10), [2.0])
    # a series that repeats itself exactly has no spread: its level (the last day's mean)
    np.testing.assert_allclose(win.seasonal_scale(np.array([1]), np.array([5]), 4), [5.0])


def test_seasonal_scaling_learns_the_shape_across_volumes():
    df = _panel(noise=(0.05,) * 6, days=14)
    model = create("xgboost", **TINY_XGB, calendar=False, scaling="seasonal").fit(df, freq="1h", horizon=24)
    fc = model.predict(h=24, quantiles=[0.1, 0.5, 0.9])
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * np.arange(14 * 24, 15 * 24) / 24)
    truth = np.concatenate([(10 ** (i % 3 + 1)) * shape for i in range(6)])
    err = np.abs(fc["xgboost"].to_numpy() - truth) / truth.reshape(6, 24).mean(axis=1).repeat(24)
    assert err.mean() < 0.1
    q = fc[["xgboost-q10", "xgboost-q50", "xgboost-q90"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()


def test_seasonal_scaling_never_sees_the_held_out_window():
    df = _panel(days=8)
    changed = df.copy()
    last = changed.groupby("unique_id").tail(6).index
    changed.loc[last, "y"] *= 50
    params = dict(TINY_XGB, scaling="seasonal", n_boosters=2)
    a = create("xgboost", **params).fit(df, freq="1h", horizon=6).validation()
    b = create("xgboost", **params).fit(changed, freq="1h", horizon=6).validation()
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_the_first_booster_is_the_same_model_whatever_n_boosters():
    df = _panel()
    one = create("xgboost", **TINY_XGB).fit(df, freq="1h", horizon=6)
    two = create("xgboost", **TINY_XGB, n_boosters=2).fit(df, freq="1h", horizon=6)
    assert len(one.boosters_) == 1 and len(two.boosters_) == 2
    raw = [b.get_booster().save_raw("json") for b in (one.boosters_[0], *two.boosters_)]
    assert raw[0] == raw[1] and raw[1] != raw[2]  # the second booster drew other rows
    assert not np.allclose(one.predict(h=6)["xgboost"], two.predict(h=6)["xgboost"])


class _HeldOut:
    """A fitted member's held-out window given as data (what `learn_weights` reads)."""

    def __init__(self, series, validation):
        self.series_, self.horizon_, self.periods_ = series, validation.shape[1], {"day": 24}
        self._v = validation

    def validation(self):
        return self._v


def _smooth_and_noisy(n_each=4, h=6, seed=1):
    rng = np.random.default_rng(seed)
    base = 100 + 10 * np.sin(2 * np.pi * np.arange(24 * 6) / 24)
    smooth = [base * (1 + 0.001 * rng.standard_normal(len(base))) for _ in range(n_each)]
    noisy = [base * (1 + 0.3 * rng.standard_normal(len(base))) for _ in range(n_each)]
    series = smooth + noisy
    actual = np.vstack([y[-h:] for y in series])
    off = np.vstack([np.full(h, 20.0)] * len(series))
    is_smooth = np.arange(len(series)) < n_each
    # member a is right on the smooth series, b on the noisy ones
    a = np.where(is_smooth[:, None], actual, actual + off)
    b = np.where(is_smooth[:, None], actual + off, actual)
    return series, {"a": _HeldOut(series, a), "b": _HeldOut(series, b)}, is_smooth


def test_grouped_weights_give_smooth_and_noisy_series_their_own_member():
    series, members, is_smooth = _smooth_and_noisy()
    ratio = noise_ratio(series, 6, 24)
    assert ratio[is_smooth].max() < ratio[~is_smooth].min()
    g = learn_grouped_weights(members, groups=2, min_series=2, shrinkage=0.0)
    np.testing.assert_allclose(g.weights, [[1.0, 0.0], [0.0, 1.0]])
    assert ratio[is_smooth].max() < g.edges[0] <= ratio[~is_smooth].min()
    w = g.of(series, horizon=0, period=24)
    np.testing.assert_allclose(w[:, 0], is_smooth.astype(float))
    # too few series for two groups: one, the weights over every series
    one = learn_grouped_weights(members, groups=2, min_series=5, shrinkage=0.2)
    flat = learn_weights(members, shrinkage=0.2)
    assert len(one.edges) == 0 and np.allclose(one.weights[0], [flat["a"], flat["b"]])
    assert g.as_dict()["weights"][0] == {"a": 1.0, "b": 0.0}


def test_ensemble_weights_each_series_by_its_group():
    df = _panel(noise=(0.01, 0.01, 0.01, 0.3, 0.3, 0.3), days=9)
    members = [
        {"model": "seasonal_naive", "alias": "day", "params": {"period": "day"}},
        {"model": "xgboost", "params": TINY_XGB},
    ]
    ens = create("ensemble", members=members, noise_groups=2, min_group_series=3).fit(df, freq="1h", horizon=6)
    assert len(ens.groups_.edges) == 1 and sum(ens.weights_.values()) == pytest.approx(1.0)
    w = ens.groups_.of(ens.series_, horizon=0, period=24)  # (series, members)
    fc = ens.member_forecasts(h=6, quantiles=[0.5, 0.9])
    for col in ("", "-q90"):
        expected = sum(np.repeat(w[:, j], 6) * fc[f"{m}{col}"].to_numpy() for j, m in enumerate(ens.groups_.names))
        np.testing.assert_allclose(fc[f"ensemble{col}"], expected)
    assert ens.validation().shape == (6, 6) and np.isfinite(ens.validation()).all()
