"""The load backtest: origins at the grain, no look past an origin, MASE over the seasonal naive
of the grain's day (by hand), contributions, the report, and `darkhorse backtest` on a request
log."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.core.schema import CUTOFF, DS, ID, Y
from training.load.backtest import LoadBacktestError, plan_origins, run_load_backtest
from training.load.blend import EnsembleSettings, MemberSpec
from training.metrics import naive_scale

TINY_XGB = {"n_estimators": 15, "max_depth": 3, "n_lags": 6, "day_lags": 2, "week_lags": 0, "max_train_rows": 2000}


def _panel(n_series: int = 2, days: int = 10, freq: str = "1h", seed: int = 0) -> pd.DataFrame:
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(freq))
    n = per_day * days
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-03-04", periods=n, freq=freq)
    return pd.concat(
        [pd.DataFrame({ID: f"s{i}", DS: ds,
                       Y: np.maximum(0, (50 + 20 * i) * (1 + 0.4 * np.sin(2 * np.pi * t / per_day)) + rng.normal(0, 4, n))})
         for i in range(n_series)],
        ignore_index=True,
    )


def _settings(*members: MemberSpec) -> EnsembleSettings:
    return EnsembleSettings(members=list(members))


DAY = MemberSpec(model="seasonal_naive", alias="day", params={"period": "day"})
WEEK = MemberSpec(model="seasonal_naive", alias="week", params={"period": "week"})
XGB = MemberSpec(model="xgboost", alias="xgb", params=TINY_XGB)


def test_origins_step_back_from_the_last_full_horizon():
    df = _panel(n_series=1, days=4)
    origins = plan_origins(df, freq="1h", horizon=6, n_windows=3, every=4)
    end = df[DS].max()
    assert origins[-1] == end - pd.Timedelta("6h")
    assert list(np.diff(origins)) == [pd.Timedelta("4h")] * 2
    with pytest.raises(LoadBacktestError, match="96 intervals of 1h"):
        plan_origins(df, freq="1h", horizon=40, n_windows=3, every=40)


def test_load_backtest_never_sees_past_its_origin():
    """Poisoning every load after an origin changes no forecast (members, ensemble, quantiles,
    the leave-one-out ensembles' contributions aside) made at or before it; later ones move."""
    df = _panel(days=9)
    kw = dict(freq="1h", settings=_settings(DAY, XGB), n_windows=3, horizon=12, every=12, report=False)
    first = run_load_backtest(df, **kw)
    fc = first.forecasts
    cutoffs = sorted(fc[CUTOFF].unique())
    assert len(cutoffs) == 3 and (fc[DS] > fc[CUTOFF]).all()
    assert ((fc[DS] - fc[CUTOFF]) <= pd.Timedelta("12h")).all()
    origin = cutoffs[1]
    poisoned = df.assign(**{Y: np.where(df[DS] > origin, 1e5, df[Y])})
    poisoned_run = run_load_backtest(poisoned, **kw)
    again = poisoned_run.forecasts
    same = fc[CUTOFF] <= origin
    for col in ("day", "day-q90", "xgb", "xgb-q10", "ensemble", "ensemble-q90"):
        np.testing.assert_allclose(fc.loc[same, col], again.loc[same, col], rtol=1e-9)
    for col in ("day-q90", "xgb", "ensemble"):  # the day-back point of steps <= 12 reads the clean half
        assert not np.allclose(fc.loc[~same, col], again.loc[~same, col])
    w1 = [w for w in first.metrics["weights"] if pd.Timestamp(w[CUTOFF]) <= origin]
    assert w1 == [w for w in poisoned_run.metrics["weights"] if pd.Timestamp(w[CUTOFF]) <= origin]


def test_mase_scaled_by_the_daily_seasonal_naive_by_hand():
    """At a 6h grain a day is 4 intervals: the seasonal naive's MASE, pinball and coverage
    computed here from the raw numbers equal the backtest's."""
    y = np.array([3.0, 7.0, 5.0, 1.0, 4.0, 9.0, 5.0, 2.0, 6.0, 8.0, 4.0, 1.0, 5.0, 10.0, 6.0, 2.0])
    df = pd.DataFrame({ID: "a", DS: pd.date_range("2024-01-01", periods=len(y), freq="6h"), Y: y})
    res = run_load_backtest(df, freq="6h", settings=_settings(DAY), n_windows=2, horizon=2, every=2,
                            quantiles=[0.1, 0.5, 0.9], report=False)
    assert res.metrics["season_length"] == 4
    mases, pins, covs = [], [], []
    for o in (11, 13):  # origins: the last full horizon (index 13) and 2 before
        hist = y[: o + 1]
        scale = np.mean(np.abs(hist[4:] - hist[:-4]))
        f = np.array([hist[o + 1 - 4], hist[o + 2 - 4]])  # the same phase a day back
        errors = (hist[4:] - hist[:-4])[-4 * 4:]  # the member's window of past errors at that lag
        q = {lv: np.maximum(f + np.quantile(errors, lv), 0.0) for lv in (0.1, 0.5, 0.9)}  # loads clip at 0
        a = y[o + 1 : o + 3]
        mases.append(np.mean(np.abs(a - f)) / scale)
        pins.append(np.mean([np.mean(np.maximum(lv * (a - q[lv]), (lv - 1) * (a - q[lv]))) for lv in q]) / scale)
        covs.append(np.mean((a >= q[0.1]) & (a <= q[0.9])))
    m = res.metrics["models"]["day"]
    assert m["mase"] == pytest.approx(np.mean(mases))
    assert m["scaled_pinball"] == pytest.approx(np.mean(pins))
    assert m["coverage_80"] == pytest.approx(np.mean(covs))


def test_naive_scale_season_falls_back_to_one_step_for_a_short_series():
    hist = pd.DataFrame({ID: ["a"] * 6 + ["b"] * 3, DS: list(range(6)) + list(range(3)),
                         Y: [1.0, 2.0, 4.0, 8.0, 3.0, 1.0, 5.0, 2.0, 6.0]})
    sc = naive_scale(hist, season=4)
    assert sc["a"] == pytest.approx((abs(3 - 1) + abs(1 - 2)) / 2)  # |y_t - y_{t-4}|
    assert sc["b"] == pytest.approx((3 + 4) / 2)  # 3 values, no full season: one-step
    one = naive_scale(hist)
    assert one["a"] == pytest.approx((1 + 2 + 4 + 5 + 2) / 5)
    with pytest.raises(ValueError, match="season"):
        naive_scale(hist, season=0)


def test_contributions_seconds_and_the_report_read_the_grain(tmp_path):
    df = _panel(days=8)
    res = run_load_backtest(df, freq="1h", settings=_settings(DAY, WEEK, XGB), n_windows=2, horizon=6,
                            out_dir=tmp_path)
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["freq"] == "1h" and m["season_length"] == 24 and m["horizon"] == 6
    assert set(m["models"]) == {"day", "week", "xgb", "ensemble"}
    for name in ("day", "week", "xgb"):
        c = m["contributions"][name]
        assert c["delta"] == pytest.approx(c["mase_without"] - m["models"]["ensemble"]["mase"])
        assert c["seconds"] == m["timings_s"][name]
    assert m["timings_s"]["xgb"] > m["timings_s"]["day"]
    assert not any("_without_" in c for c in res.forecasts.columns)
    html = (tmp_path / "report.html").read_text()
    assert "Horizon (1h intervals)" in html and "averaged over 1h intervals" in html
    assert "m = 24 intervals of 1h" in html and "weeks" not in html.split("How to read this")[1].split("For hot")[0]


def test_a_member_too_short_for_the_first_origin_is_left_out_and_named():
    df = _panel(n_series=1, days=1)  # 16 intervals before the first origin: under a day
    res = run_load_backtest(df, freq="1h", settings=_settings(DAY, XGB), n_windows=2, horizon=4, report=False)
    assert "xgb" in res.metrics["skipped_members"] and set(res.metrics["models"]) == {"day", "ensemble"}
    np.testing.assert_allclose(res.forecasts["ensemble"], res.forecasts["day"])


@pytest.mark.slow  # the default ensemble (XGBoost) fitted at three origins: ~1 min
def test_darkhorse_backtest_on_a_request_log_backtests_the_load_models(tmp_path):
    from typer.testing import CliRunner

    from darkhorse.app.cli import app

    df = _panel(days=6, freq="30min")
    (tmp_path / "marts").mkdir()
    pd.DataFrame({"series_id": df[ID], "interval_start": df[DS].dt.tz_localize("UTC"), "requests": df[Y]}).to_parquet(
        tmp_path / "marts" / "series_intervals.parquet")
    doc = {"project": "loadonly", "sources": [{"name": "lb", "kind": "request_log", "path": "log.csv"}],
           "load": {"grain": "30min"}, "paths": {"data_dir": str(tmp_path / "data"), "marts": str(tmp_path / "marts")},
           "training": {"out_dir": str(tmp_path / "out")}}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    res = CliRunner().invoke(app, ["backtest", "--config", str(tmp_path / "darkhorse.yaml"), "--no-report"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "out" / "load" / "metrics.json").read_text())
    assert m["freq"] == "30min" and m["season_length"] == 48 and len(m["windows"]) == 3
    assert {"seasonal_naive_day", "seasonal_naive_week", "xgboost", "ensemble"} <= set(m["models"])
    assert not (tmp_path / "out" / "metrics.json").exists()  # no weekly backtest without an item source
