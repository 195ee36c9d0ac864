"""The global XGBoost's intervals hold on weeks it has not seen: the calibration rows are the
latest target weeks, scored by a booster fitted on earlier targets only, per horizon-step bucket.

A random split of the (origin, step) rows puts the same target weeks, and the same items'
neighbouring origins, in training and calibration; on the noisy panel below its 80% interval
covers about 70% of the next 12 weeks (measured: 0.665 / 0.733 / 0.704 over seeds 0-2), while
the time-ordered split covers about 80%."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.models import create
from training.models.base import quantile_columns
from training.models.xgb import step_bucket

H = 12
XGB = {"n_estimators": 60, "max_depth": 6, "n_jobs": 1}


def _noisy(n: int = 40, weeks: int = 130, seed: int = 0) -> pd.DataFrame:
    """Items with their own volume and a mild yearly cycle under heavy week-to-week noise
    (log-normal, sigma 0.6, then Poisson): most of what a week sells cannot be forecast."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2020-01-06", periods=weeks, freq="7D")
    t = np.arange(weeks)
    parts = []
    for i in range(n):
        mu = rng.uniform(5, 50) * (1 + 0.3 * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 6)))
        y = rng.poisson(mu * np.exp(rng.normal(0, 0.6, weeks) - 0.18))
        parts.append(pd.DataFrame({"unique_id": f"i{i:02d}", "ds": ds, "y": y.astype(float)}))
    return pd.concat(parts, ignore_index=True)


def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    cut = df["ds"].max() - pd.Timedelta(weeks=H)
    return df[df["ds"] <= cut], df[df["ds"] > cut], cut


def test_step_buckets_split_the_horizon_in_equal_spans():
    assert step_bucket(np.arange(1, 13), 12, 3).tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert step_bucket(np.arange(1, 7), 6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert step_bucket(np.arange(1, 3), 2, 3).tolist() == [0, 1]  # never more buckets than steps
    assert step_bucket(1, 1, 3) == 0


def test_calibration_weeks_come_after_every_training_target():
    train, _, cut = _split(_noisy())
    m = create("xgboost", **XGB).fit(train, horizon=H)
    c = m.calibration_
    assert c["weeks"] == 13
    assert c["first_calibration_target"] == cut - pd.Timedelta(weeks=12)
    assert c["last_train_target"] == cut - pd.Timedelta(weeks=13)
    assert c["first_calibration_target"] > c["last_train_target"]
    # every step bucket is calibrated by its own held-out rows
    assert set(c["buckets"]) == {0, 1, 2} and min(c["buckets"].values()) >= 30
    assert c["n_train"] > 0 and c["n_calibration"] > 0 and c["refit"]


def test_calibration_weeks_shrink_on_a_short_history():
    train, _, _ = _split(_noisy(n=20, weeks=40))
    m = create("xgboost", **XGB).fit(train, horizon=4)
    weeks = m.calibration_["weeks"]
    assert 1 <= weeks < 13
    assert m.calibration_["first_calibration_target"] == train["ds"].max() - pd.Timedelta(weeks=weeks - 1)


def test_intervals_cover_the_next_weeks_in_every_step_bucket():
    inside_80, inside_98, bucket = [], [], []
    for seed in range(3):
        train, test, cut = _split(_noisy(seed=seed))
        fc = create("xgboost", **XGB).fit(train, horizon=H).predict(h=H, quantiles=[0.01, 0.1, 0.5, 0.9, 0.99])
        q1, q10, _, q90, q99 = quantile_columns("xgboost", [0.01, 0.1, 0.5, 0.9, 0.99])
        a = test.merge(fc, on=["unique_id", "ds"], validate="1:1")
        assert len(a) == len(test)
        inside_80.append(((a["y"] >= a[q10]) & (a["y"] <= a[q90])).to_numpy())
        inside_98.append(((a["y"] >= a[q1]) & (a["y"] <= a[q99])).to_numpy())
        bucket.append(step_bucket(((a["ds"] - cut) // pd.Timedelta(weeks=1)).to_numpy(), H, 3))
    in80, in98, b = np.concatenate(inside_80), np.concatenate(inside_98), np.concatenate(bucket)
    assert 0.75 <= in80.mean() <= 0.87, in80.mean()  # the random split gave 0.70
    for k in range(3):
        assert in80[b == k].mean() >= 0.73, (k, in80[b == k].mean())
    assert in98.mean() >= 0.94, in98.mean()


@pytest.mark.parametrize("refit", [True, False])
def test_forecast_booster_with_and_without_refit(refit):
    train, _, _ = _split(_noisy(seed=3))
    m = create("xgboost", refit=refit, **XGB).fit(train, horizon=H)
    fc = m.predict(h=H)
    assert m.calibration_["refit"] is refit
    # the refit booster sees every row; without it the booster is the calibration one
    assert (m.n_train_rows_ > m.calibration_["n_train"]) is refit
    assert np.isfinite(fc["xgboost"]).all() and (fc["xgboost-q10"] <= fc["xgboost-q90"]).all()
