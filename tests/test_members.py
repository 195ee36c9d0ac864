"""What the members are for: the global XGBoost reads the season, the intermittent methods
forecast sparse demand, seasonal statistical fits wait for two seasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.models import create

H = 8


def _seasonal(n: int = 30, weeks: int = 130, seed: int = 0) -> pd.DataFrame:
    """Items with a strong yearly cycle (each its own phase and volume) and little noise."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2021-01-04", periods=weeks, freq="7D")
    t = np.arange(weeks)
    parts = []
    for i in range(n):
        level = rng.uniform(5, 200)
        mu = level * (1 + 0.8 * np.sin(2 * np.pi * t / 52.18 + rng.uniform(0, 2 * np.pi)))
        parts.append(pd.DataFrame({"unique_id": f"i{i:02d}", "ds": ds, "y": rng.poisson(mu).astype(float)}))
    return pd.concat(parts, ignore_index=True)


def _split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = df["ds"].max() - pd.Timedelta(weeks=h)
    return df[df["ds"] <= cut], df[df["ds"] > cut]


def _mase(train: pd.DataFrame, test: pd.DataFrame, fc: pd.DataFrame, col: str) -> float:
    scale = train.groupby("unique_id")["y"].apply(lambda y: y.diff().abs().mean())
    j = test.merge(fc, on=["unique_id", "ds"])
    return float(((j["y"] - j[col]).abs().groupby(j["unique_id"]).mean() / scale).mean())


def test_xgboost_reads_the_season_from_last_year():
    train, test = _split(_seasonal(), H)
    xgb = create("xgboost", n_estimators=60, max_depth=4, max_train_rows=20_000, n_jobs=1).fit(train, horizon=H)
    flat = create("moving_average", window=8).fit(train)
    m_xgb = _mase(train, test, xgb.predict(h=H), "xgboost")
    m_flat = _mase(train, test, flat.predict(h=H), "moving_average")
    assert m_xgb < 0.7 * m_flat
    top = list(xgb.feature_importance_.index[:6])
    assert any(f.startswith("season") for f in top), top


def test_xgboost_scales_items_by_their_level():
    """The same shapes at 1,000 times the volume give 1,000 times the forecast."""
    small = _seasonal(20, 110, seed=1)
    big = small.assign(unique_id="big_" + small["unique_id"], y=small["y"] * 1000)
    df = pd.concat([small, big], ignore_index=True)
    fc = create("xgboost", n_estimators=40, max_depth=4, n_jobs=1).fit(df, horizon=4).predict(h=4)
    is_big = fc["unique_id"].str.startswith("big_")
    pair = fc[~is_big].merge(fc[is_big].assign(unique_id=fc["unique_id"].str[4:]), on=["unique_id", "ds"])
    ratio = pair["xgboost_y"] / np.maximum(pair["xgboost_x"], 1e-9)
    assert np.median(ratio) == pytest.approx(1000, rel=0.05)


def test_intermittent_methods_forecast_the_demand_rate():
    rng = np.random.default_rng(3)
    ds = pd.date_range("2022-01-03", periods=80, freq="7D")
    parts = [pd.DataFrame({"unique_id": f"p{i}", "ds": ds,
                           "y": (rng.random(80) < 0.2) * rng.poisson(5, 80).astype(float)}) for i in range(40)]
    df = pd.concat(parts, ignore_index=True)
    for name in ("croston_sba", "tsb", "adida", "imapa"):
        fc = create(name).fit(df, horizon=4).predict(h=4, quantiles=[0.1, 0.5, 0.9])
        rate = fc[name].mean()
        assert 0.4 < rate < 1.6, (name, rate)  # about 0.2 * 5 units a week
        assert (fc[f"{name}-q90"] > fc[f"{name}-q10"]).mean() > 0.9


def test_seasonal_stats_fall_back_without_two_seasons():
    short = _seasonal(6, 60)
    m = create("autotheta").fit(short, horizon=4)
    assert m.fit_info_["n_fallback"] == 0
    assert np.isfinite(m.predict(h=4)["autotheta"]).all()
    one = short[short["unique_id"] == "i00"].head(5)  # too short for any fit: the fallback
    m = create("autoets").fit(pd.concat([short, one.assign(unique_id="tiny")]), horizon=4)
    assert m.fit_info_["n_fallback"] == 1


def test_theta_fits_only_its_latest_weeks():
    # an old regime far from the latest weeks: with max_weeks the level is read from those weeks only
    ds = pd.date_range("2010-01-04", periods=400, freq="7D")
    y = np.r_[np.full(300, 1000.0), np.full(100, 10.0)] + np.random.default_rng(1).normal(0, 1, 400)
    df = pd.DataFrame({"unique_id": "s", "ds": ds, "y": y})
    recent = create("theta", max_weeks=60).fit(df, horizon=4).predict(h=4)
    assert recent["theta"].between(5, 15).all()
    assert (recent["theta-q90"] - recent["theta-q10"]).max() < 20
