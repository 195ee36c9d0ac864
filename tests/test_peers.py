"""The accuracy suite's peers: the tools a user would pick instead, fitted at the evaluation
origins on the history known there and scored on the backtest's own rows."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks.accuracy.peers import (
    LAGS,
    MIN_DIFFERENCED_WEEKS,
    MIN_WEEKS,
    PEERS,
    PeerError,
    lightgbm_diff_forecast,
    lightgbm_forecast,
    lightgbm_lags,
    parse_peers,
    peer_forecasts,
    score_peers,
)
from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y
from training.history import History
from training.metrics import naive_scale


def _history(n_series: int = 12, weeks: int = 70, seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2022-01-03", periods=weeks, freq="7D")
    rows = []
    for i in range(n_series):
        level = rng.uniform(5, 50)
        season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(weeks) / 52 + i)
        y = rng.poisson(level * season)
        rows.append(pd.DataFrame({ID: f"s{i}", DS: ds, Y: y.astype("float64")}))
    frame = pd.concat(rows, ignore_index=True)
    return History(frame=frame, labels=pd.DataFrame(columns=[ID, DS, "label"]), covariates=[], snapshot="t",
                   data_snapshot="t", first_week=ds[0], last_week=ds[-1])


def _eval_rows(h: History, cutoffs: list[pd.Timestamp], horizon: int) -> pd.DataFrame:
    f = h.frame
    return pd.concat([f[(f[DS] > c) & (f[DS] <= c + WEEK * horizon)].assign(**{CUTOFF: c}) for c in cutoffs],
                     ignore_index=True)


def test_parse_peers_names_the_unknown_one_and_accepts_none():
    assert parse_peers("lightgbm, autoets") == ["lightgbm", "autoets"]
    assert parse_peers(",".join(PEERS)) == list(PEERS)
    assert parse_peers("none") == [] and parse_peers("") == []
    with pytest.raises(PeerError, match="prophet"):
        parse_peers("lightgbm,prophet")


def test_a_peer_whose_package_is_missing_fails_before_any_work(monkeypatch):
    """Without the bench extra the suite stops at its arguments, naming the package, instead of
    failing after the backtests; the other peer still parses."""
    monkeypatch.setitem(sys.modules, "mlforecast", None)  # what Python does for a package not installed
    with pytest.raises(PeerError, match=r"lightgbm: needs the package 'mlforecast'.*--peers none"):
        parse_peers("autoets,lightgbm")
    assert parse_peers("autoets") == ["autoets"]
    from benchmarks.bench_accuracy import main

    with pytest.raises(SystemExit, match="mlforecast"):
        main(["--panels", "weekly_sales", "--peers", "lightgbm", "--out", "/nonexistent/never-written"])


def test_lightgbm_reads_lag_52_only_where_the_history_spans_two_years():
    h = _history(n_series=2, weeks=110)
    assert lightgbm_lags(h.frame[h.frame[DS] < h.first_week + WEEK * 103]) == list(LAGS)
    assert lightgbm_lags(h.frame) == [*LAGS, 52]


def test_the_differenced_lightgbm_forecasts_a_short_series_by_its_last_value():
    h = _history(n_series=6, weeks=60)
    short = h.frame[(h.frame[ID] != "s0") | (h.frame[DS] >= h.last_week - WEEK * (MIN_DIFFERENCED_WEEKS - 1))]
    assert (short[ID] == "s0").sum() == MIN_DIFFERENCED_WEEKS
    out = lightgbm_diff_forecast(short, 5)
    assert len(out) == 6 * 5 and out["lightgbm_diff"].notna().all()
    s0 = out[out[ID] == "s0"]
    last = short.loc[short[ID] == "s0", Y].iloc[-1]
    assert (s0["lightgbm_diff"] == last).all() and list(s0[DS]) == [h.last_week + WEEK * k for k in range(1, 6)]
    # the longer series are forecast by the model, not held at their last value
    s1 = out[out[ID] == "s1"]["lightgbm_diff"].to_numpy()
    assert not np.allclose(s1, short.loc[short[ID] == "s1", Y].iloc[-1])


def test_the_lightgbm_peer_on_a_history_too_short_for_its_lags_forecasts_last_values():
    # no series is longer than lag 13 and its 13-week mean need: mlforecast would be left with
    # no training row; every series then forecasts its last value
    h = _history(n_series=3, weeks=MIN_WEEKS)
    out = lightgbm_forecast(h.frame, 4)
    assert len(out) == 3 * 4
    last = h.frame.groupby(ID)[Y].last()
    assert np.allclose(out["lightgbm"], out[ID].map(last))
    # a few weeks more and the model is fitted
    longer = _history(n_series=3, weeks=MIN_WEEKS + 6)
    fitted = lightgbm_forecast(longer.frame, 4)
    assert not np.allclose(fitted["lightgbm"], fitted[ID].map(longer.frame.groupby(ID)[Y].last()))


@pytest.mark.parametrize("name", sorted(PEERS))
def test_a_peer_forecasts_every_scored_row_from_the_history_before_its_origin(name):
    """Every scored row gets a forecast, at or above zero; the weeks after an origin are never
    read: the same forecasts come back when they are replaced by noise."""
    h = _history()
    cutoffs = [h.last_week - WEEK * 16, h.last_week - WEEK * 12]
    rows = _eval_rows(h, cutoffs, 12)
    fc, seconds = peer_forecasts(h, rows, name, horizon=12)
    assert len(fc) == len(rows) and fc[name].notna().all() and (fc[name] >= 0).all()
    assert seconds > 0
    # the forecast changes with the origin (it is fitted there, not once)
    a = fc[fc[CUTOFF] == cutoffs[0]].set_index([ID, DS])[name]
    b = fc[fc[CUTOFF] == cutoffs[1]].set_index([ID, DS])[name]
    common = a.index.intersection(b.index)
    assert not np.allclose(a.loc[common], b.loc[common])
    for cutoff in cutoffs:
        noisy = h.frame.copy()
        after = noisy[DS] > cutoff
        noisy.loc[after, Y] = np.random.default_rng(1).uniform(0, 1000, after.sum())
        h2 = History(frame=noisy, labels=h.labels, covariates=[], snapshot="t", data_snapshot="t",
                     first_week=h.first_week, last_week=h.last_week)
        again, _ = peer_forecasts(h2, rows[rows[CUTOFF] == cutoff], name, horizon=12)
        mine = fc[fc[CUTOFF] == cutoff]
        np.testing.assert_allclose(again[name].to_numpy(), mine[name].to_numpy(), rtol=1e-9)


def test_score_peers_scores_the_backtest_s_rows_and_pairs_the_blend_with_each_peer():
    h = _history()
    cutoffs = [h.last_week - WEEK * 16, h.last_week - WEEK * 12]
    rows = _eval_rows(h, cutoffs, 12)
    # a backtest's forecasts: one warm-up origin (never scored here) and two evaluation ones
    warm = _eval_rows(h, [h.last_week - WEEK * 20], 12).assign(window="warmup")
    forecasts = pd.concat([warm, rows.assign(window="eval")], ignore_index=True)
    scale = pd.concat([naive_scale(h.until(c)).rename("scale").reset_index().assign(**{CUTOFF: c}) for c in cutoffs])
    blend = rows.assign(blend=rows[Y] * 1.1)  # a blend 10% above every actual
    j = blend.merge(scale, on=[ID, CUTOFF])
    per = (j["blend"] - j[Y]).abs().groupby([j[ID], j[CUTOFF]]).mean() / j.groupby([ID, CUTOFF])["scale"].first()
    series = per.rename("mase").reset_index().assign(model="blend")
    out, joined = score_peers(h, forecasts, series, ["autoets"], horizon=12)
    assert set(joined[CUTOFF]) == set(cutoffs) and len(joined) == len(rows)
    # the peer's MASE by hand, from its returned forecasts and the backtest's scale
    k = joined.merge(scale, on=[ID, CUTOFF])
    mine = ((k["autoets"] - k[Y]).abs().groupby([k[ID], k[CUTOFF]]).mean()
            / k.groupby([ID, CUTOFF])["scale"].first())
    assert out["autoets"]["mase"] == pytest.approx(mine.mean())
    d = out["autoets"]["blend_vs"]
    assert d["diff"] == pytest.approx((per - mine.reindex(per.index)).mean())
    assert d["n_series"] == h.frame[ID].nunique() and out["autoets"]["missing_rows"] == 0


@pytest.mark.slow
def test_the_lightgbm_peer_reads_a_panel_s_known_promotion_calendar():
    """Given the same known-future column as the members, the LightGBM peer uses it: its error
    in promoted weeks falls; AutoETS reads none and forecasts the same either way."""
    from benchmarks.accuracy.panels import history_from_frame
    from darkhorse.core.config import PanelConfig
    from synthetic.store_sales import store_department_sales

    f = store_department_sales(promotions=True)
    plain = history_from_frame(f, PanelConfig(), snapshot="t")
    known = History(frame=plain.frame.merge(f[[ID, DS, "promo"]], on=[ID, DS]), labels=plain.labels, covariates=["promo"],
                    snapshot="t", data_snapshot="t", first_week=plain.first_week, last_week=plain.last_week,
                    known_future=f[[ID, DS, "promo"]])
    c = plain.last_week - WEEK * 12
    rows = _eval_rows(plain, [c], 12)
    got = {}
    for name, h in (("plain", plain), ("known", known)):
        for peer in ("lightgbm", "autoets"):
            fc, _ = peer_forecasts(h, rows, peer, horizon=12)
            got[name, peer] = fc.merge(f[[ID, DS, "promo"]], on=[ID, DS])
    err = {k: (v[k[1]] - v[Y]).abs()[v["promo"] == 1.0].mean() for k, v in got.items()}
    assert (got["known", "lightgbm"]["promo"] == 1.0).sum() >= 100
    assert err["known", "lightgbm"] < 0.8 * err["plain", "lightgbm"], err
    np.testing.assert_allclose(got["known", "autoets"]["autoets"], got["plain", "autoets"]["autoets"])


def test_a_peer_that_fails_at_an_origin_leaves_its_rows_without_a_forecast(monkeypatch, caplog):
    """A tool that raises on a panel (at one origin, or at all) is reported, not the end of the
    suite's run: its rows there stay without a forecast and are counted as missing."""
    import benchmarks.accuracy.peers as peers

    h = _history()
    cutoffs = [h.last_week - WEEK * 16, h.last_week - WEEK * 12]
    rows = _eval_rows(h, cutoffs, 12)
    real = peers.PEERS["autoets"]

    def flaky(train, horizon, **kw):
        if train[DS].max() == cutoffs[0]:
            raise ValueError("Input data must be 2 dimensional and non empty.")
        return real(train, horizon, **kw)

    monkeypatch.setitem(peers.PEERS, "autoets", flaky)
    with caplog.at_level("WARNING"):
        fc, _ = peer_forecasts(h, rows, "autoets", horizon=12)
    assert "peer autoets at" in caplog.text and "failed (ValueError: Input data must be 2 dimensional" in caplog.text
    first = fc[fc[CUTOFF] == cutoffs[0]]
    assert len(first) == (rows[CUTOFF] == cutoffs[0]).sum() and first["autoets"].isna().all()
    assert fc.loc[fc[CUTOFF] == cutoffs[1], "autoets"].notna().all()
