"""The global load models (XGBoost, LSTM over level-scaled windows) and the learned blend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.load import LoadFrameError, create, learn_weights, rolling_forecasts

TINY_LSTM = {"seq_days": [1.0], "hidden": [8], "layers": [1, 2], "epochs": 3, "max_windows": 400, "batch_size": 64}
TINY_XGB = {"n_estimators": 30, "max_depth": 4, "learning_rate": 0.3, "max_train_rows": 5000}


def _panel(n_series=4, days=10, freq="1h", seed=0):
    """Hourly series with a daily shape, each at its own volume, with noise."""
    rng = np.random.default_rng(seed)
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(freq))
    n = days * per_day
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * np.arange(n) / per_day)
    parts = []
    for i in range(n_series):
        y = (10 ** (i % 3 + 1)) * shape * rng.lognormal(0, 0.05, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq=freq), "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("name,params", [("xgboost", TINY_XGB), ("lstm", TINY_LSTM)])
def test_global_members_shape_quantiles_and_inputs_unchanged(name, params):
    df = _panel()
    before = df.copy()
    model = create(name, **params).fit(df, freq="1h", horizon=6)
    fc = model.predict(h=6, quantiles=[0.1, 0.5, 0.9])
    pd.testing.assert_frame_equal(df, before)
    assert len(fc) == 4 * 6 and fc["ds"].min() == df["ds"].max() + pd.Timedelta("1h")
    q = fc[[f"{name}-q10", f"{name}-q50", f"{name}-q90"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    assert model.validation().shape == (4, 6)


def test_xgboost_learns_the_shape_across_volumes():
    df = _panel(n_series=6, days=14)
    model = create("xgboost", **TINY_XGB, calendar=False).fit(df, freq="1h", horizon=24)
    fc = model.predict(h=24, quantiles=[0.1, 0.9])
    # the truth without noise: every series' daily shape at its own volume
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * np.arange(14 * 24, 15 * 24) / 24)
    truth = np.concatenate([(10 ** (i % 3 + 1)) * shape for i in range(6)])
    err = np.abs(fc["xgboost"].to_numpy() - truth) / truth.clip(1e-9).reshape(6, 24).mean(axis=1).repeat(24)
    assert err.mean() < 0.1
    covered = (truth >= fc["xgboost-q10"].to_numpy() * 0.9) & (truth <= fc["xgboost-q90"].to_numpy() * 1.1)
    assert covered.mean() > 0.8


def test_the_load_booster_builds_the_same_forecast_on_one_or_two_threads():
    # the default n_jobs 0 (every core) is a speed setting only: it must not move a forecast
    df = _panel(n_series=6, days=14)
    fc = [create("xgboost", **TINY_XGB, n_jobs=n).fit(df, freq="1h", horizon=24).predict(h=24, quantiles=[0.1, 0.9])
          for n in (1, 2)]
    num = [f.select_dtypes("number").to_numpy() for f in fc]
    assert num[0].shape == (6 * 24, 3) and np.array_equal(num[0], num[1])


@pytest.mark.parametrize("name,params", [("xgboost", TINY_XGB), ("lstm", TINY_LSTM)])
def test_validation_never_sees_the_held_out_window(name, params):
    """Changing the last `horizon` intervals changes nothing in the held-out forecast."""
    df = _panel(days=8)
    changed = df.copy()
    last = changed.groupby("unique_id")["ds"].transform("max") - changed["ds"] < pd.Timedelta("6h")
    changed.loc[last, "y"] *= 50
    a = create(name, **params).fit(df, freq="1h", horizon=6).validation()
    b = create(name, **params).fit(changed, freq="1h", horizon=6).validation()
    np.testing.assert_allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize("name,params", [("xgboost", TINY_XGB), ("lstm", TINY_LSTM)])
def test_refresh_reads_a_new_history_without_refitting(name, params):
    df = _panel(n_series=3)
    model = create(name, **params).fit(df, freq="1h", horizon=6)
    learned = model.boosters_ if name == "xgboost" else model.net_
    doubled = df.assign(y=df["y"] * 2, ds=df["ds"] + pd.Timedelta("7D"))
    fresh = model.refresh(doubled)
    assert (fresh.boosters_ if name == "xgboost" else fresh.net_) is learned
    a = model.predict(h=6)[name].to_numpy()
    np.testing.assert_allclose(model.refresh(df).predict(h=6)[name].to_numpy(), a, rtol=1e-6)
    b = fresh.predict(h=6)
    # level x shape: the LSTM is scale-free, the XGBoost also reads the level (log) itself
    np.testing.assert_allclose(b[name].to_numpy(), 2 * a, rtol=1e-4 if name == "lstm" else 0.15)
    assert b["ds"].min() == doubled["ds"].max() + pd.Timedelta("1h")
    # the model it came from still forecasts its own history
    np.testing.assert_allclose(model.predict(h=6)[name].to_numpy(), a)


def test_lstm_searches_its_grid_and_keeps_the_best():
    model = create("lstm", **TINY_LSTM).fit(_panel(), freq="1h", horizon=4)
    assert [(g["layers"]) for g in model.grid_] == [1, 2]
    assert model.config_["val_loss"] == min(g["val_loss"] for g in model.grid_)
    assert all(1 <= g["epochs"] <= 3 for g in model.grid_)


def test_global_member_rejects_a_history_too_short():
    df = _panel(n_series=1, days=1)
    with pytest.raises(LoadFrameError, match=r"before its last|training windows"):
        create("xgboost", **TINY_XGB).fit(df.iloc[:20], freq="1h", horizon=12)


def test_weights_favour_the_member_right_on_the_held_out_window():
    df = _panel(n_series=3, days=9)
    good = create("seasonal_naive", alias="good", period="day").fit(df, freq="1h", horizon=6)
    bad = create("seasonal_naive", alias="bad", period="day").fit(df.assign(y=df["y"] * 3), freq="1h", horizon=6)
    bad.validation()  # held out from the tripled history: three times too high
    bad.series_ = good.series_  # scored against the same actuals
    w = learn_weights({"good": good, "bad": bad}, shrinkage=0.2)
    assert w["good"] == pytest.approx(0.9) and w["bad"] == pytest.approx(0.1)
    assert learn_weights({"good": good, "bad": bad}, shrinkage=1.0) == {"good": 0.5, "bad": 0.5}


def test_ensemble_combines_members_with_learned_weights():
    df = _panel(n_series=3, days=9)
    members = [
        {"model": "seasonal_naive", "alias": "day", "params": {"period": "day"}},
        {"model": "xgboost", "params": TINY_XGB},
    ]
    ens = create("ensemble", members=members).fit(df, freq="1h", horizon=6)
    assert set(ens.weights_) == {"day", "xgboost"} and sum(ens.weights_.values()) == pytest.approx(1.0)
    fc = ens.member_forecasts(h=6, quantiles=[0.5, 0.9])
    expected = sum(w * fc[m] for m, w in ens.weights_.items())
    np.testing.assert_allclose(fc["ensemble"], expected)
    np.testing.assert_allclose(ens.predict(h=6, quantiles=[0.5, 0.9])["ensemble-q90"],
                               sum(w * fc[f"{m}-q90"] for m, w in ens.weights_.items()))
    fresh = ens.refresh(df.assign(ds=df["ds"] + pd.Timedelta("1h")))
    assert fresh.weights_ == ens.weights_ and len(fresh.predict(h=6)) == 18


def test_replay_learns_the_ensemble_weights_at_every_origin():
    df = _panel(n_series=1, days=4)
    fc = rolling_forecasts(
        df, freq="1h", eval_start=df["ds"].iloc[-6], lead=1, refit_every=3,
        members={"day": lambda: create("seasonal_naive", period="day"), "last": lambda: create("seasonal_naive", period="week")},
    )
    weights = fc.attrs["weights"]
    assert len(weights) == fc["cutoff"].nunique() == 2
    for row in weights:
        assert row["day"] + row["last"] == pytest.approx(1.0)


def test_replay_with_retrains_and_refreshes_never_sees_past_its_origin():
    """Global members trained at the first origin and refreshed at the next ones: changing
    every load after an origin changes no forecast (members, ensemble, its weights) made at
    or before it."""
    df = _panel(n_series=1, days=6)
    members = {
        "day": lambda: create("seasonal_naive", period="day"),
        "xgb": lambda: create("xgboost", **TINY_XGB),
    }
    kw = dict(freq="1h", members=members, eval_start=df["ds"].iloc[-20], lead=1, refit_every=4,
              retrain_every=8, quantiles=[0.5, 0.9])
    fc = rolling_forecasts(df, **kw)
    cutoffs = sorted(fc["cutoff"].unique())
    assert len(cutoffs) == 5
    origin = cutoffs[1]  # refreshed: trained at cutoffs[0] and again at cutoffs[2] (8 intervals on)
    later = df.assign(y=np.where(df["ds"] > origin, 1e5, df["y"]))
    again = rolling_forecasts(later, **kw)
    same = fc["cutoff"] <= origin
    for col in ("xgb", "xgb-q90", "ensemble", "ensemble-q90"):
        np.testing.assert_allclose(fc.loc[same, col], again.loc[same, col], rtol=1e-6)
        assert not np.allclose(fc.loc[~same, col], again.loc[~same, col])
    w = pd.DataFrame(fc.attrs["weights"])
    assert (w.loc[w["cutoff"] <= origin].to_numpy() == pd.DataFrame(again.attrs["weights"]).loc[w["cutoff"] <= origin].to_numpy()).all()


def test_mase_weights_are_the_level_over_the_series_seasonal_scale():
    df = _panel(n_series=2, days=4)  # series s1 has 10x the volume (and seasonal scale) of s0
    model = create("xgboost", **TINY_XGB, weight="mase").fit(df, freq="1h", horizon=6)
    from training.load.windows import Windows

    win = Windows(model.series_, day=24)
    rows = np.repeat([0, 1], 50)
    same_ratio = model._weights(win, rows, np.repeat([10.0, 100.0], 50), win.width)
    np.testing.assert_allclose(same_ratio[:50].mean() / same_ratio[50:].mean(), 1.0, rtol=0.3)
    same_level = model._weights(win, rows, np.full(100, 10.0), win.width)
    assert same_level.mean() == pytest.approx(1.0)
    assert same_level[:50].mean() / same_level[50:].mean() == pytest.approx(10.0, rel=0.3)
    assert create("xgboost", **TINY_XGB).fit(df, freq="1h", horizon=6)._weights(win, rows, np.ones(100), 48) is None
