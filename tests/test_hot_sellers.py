"""Hot-seller scores: seasonal and forecast-derived features by hand, the learned final
combination and its fallback, and no label read before it is known."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.config import ConfigError, HotSellerConfig
from training import hot_sellers as hs
from training.hot_sellers.combine import (
    SEASON_FALLBACK,
    TIE_BREAK,
    Choice,
    choose,
    fallback_weights,
    final_score,
    grid,
    season_unlearned,
)
from training.hot_sellers.features import forecast_features, seasonal_features

L, H = 4, 3
SETTINGS = hs.Settings(lookback=L, horizon=H, floor=1.0, forecast_model="blend",
                       classifier={"n_estimators": 8, "max_depth": 2, "n_jobs": 1})


def _weeks(n: int, start: str = "2022-01-03") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="7D")


def _labels(frame: pd.DataFrame, *, horizon: int = H, lookback: int = L, share: float = 0.1) -> pd.DataFrame:
    """The label definition of `fct_item_week_labels`: growth = mean of the next `horizon` weeks /
    max(sum of the past `lookback` weeks / lookback, 1); eligible with past units >= 1; top `share`."""
    g = frame.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(lookback, min_periods=1).sum())
    future = g.transform(lambda v: v[::-1].rolling(horizon, min_periods=horizon).mean()[::-1].shift(-1))
    lab = pd.DataFrame({"unique_id": frame["unique_id"], "ds": frame["ds"],
                        "growth_score": future / np.maximum(past / lookback, 1.0), "eligible": past >= 1})
    lab = lab[lab["growth_score"].notna()].copy()
    rank = lab[lab["eligible"]].groupby("ds")["growth_score"].rank(ascending=False, method="min")
    n = lab[lab["eligible"]].groupby("ds")["growth_score"].transform("size")
    lab["label"] = 0.0
    lab.loc[rank.index, "label"] = ((rank <= np.ceil(share * n)) & (lab.loc[rank.index, "growth_score"] > 0)).astype(float)
    lab["label_available_at"] = (lab["ds"] + pd.Timedelta(weeks=horizon + 1)).dt.tz_localize("UTC")
    return lab.drop(columns="eligible").reset_index(drop=True)


def _panel(n_items: int = 40, n_weeks: int = 70, seed: int = 0) -> pd.DataFrame:
    """Seasonal weekly counts: each item peaks at its own week of the year."""
    rng = np.random.default_rng(seed)
    weeks = _weeks(n_weeks)
    rows = []
    for i in range(n_items):
        peak, level = rng.integers(0, 52), rng.uniform(2, 20)
        dist = np.minimum(np.abs(np.arange(n_weeks) % 52 - peak), 52 - np.abs(np.arange(n_weeks) % 52 - peak))
        lam = level * (1 + 3 * np.exp(-(dist / 3.0) ** 2))
        rows.append(pd.DataFrame({"unique_id": f"i{i:02d}", "ds": weeks, "y": rng.poisson(lam).astype(float)}))
    return pd.concat(rows, ignore_index=True)


def _forecast(frame: pd.DataFrame, cutoff: pd.Timestamp, seed: int) -> pd.DataFrame:
    """A noisy forecast of the realized next H weeks (blend, its interval and two members)."""
    rng = np.random.default_rng(seed)
    fut = frame[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + pd.Timedelta(weeks=H))].copy()
    fut["blend"] = fut["y"] * rng.uniform(0.7, 1.3, len(fut))
    fut["blend-q10"], fut["blend-q50"], fut["blend-q90"] = 0.6 * fut["blend"], fut["blend"], 1.5 * fut["blend"]
    fut["naive"] = fut["blend"] * rng.uniform(0.8, 1.2, len(fut))
    fut["seasonal_naive"] = fut["blend"] * rng.uniform(0.8, 1.2, len(fut))
    return fut.drop(columns="y").reset_index(drop=True)


# --------------------------------------------------------------------------- features by hand
def test_seasonal_features_by_hand():
    weeks = _weeks(60)
    frame = pd.concat([
        pd.DataFrame({"unique_id": "a", "ds": weeks, "y": np.arange(60, dtype=float)}),
        pd.DataFrame({"unique_id": "b", "ds": weeks[-10:], "y": 2.0}),
    ], ignore_index=True)
    f = seasonal_features(frame, lookback=L, horizon=H, floor=1.0, season=52)
    a = f[frame["unique_id"] == "a"].reset_index(drop=True)
    # week 55: past weeks 52..55; last season's coming weeks 4..6 (55+1-52 .. 55+3-52); their past 0..3
    assert a.loc[55, "past_mean"] == pytest.approx((52 + 53 + 54 + 55) / 4)
    assert a.loc[55, "ly_future_mean"] == pytest.approx((4 + 5 + 6) / 3)
    assert a.loc[55, "ly_growth"] == pytest.approx(5 / max((0 + 1 + 2 + 3) / 4, 1.0))
    assert a.loc[55, "seasonal_growth"] == pytest.approx(5 / 53.5)
    assert a.loc[55, "yoy_4"] == pytest.approx(np.log1p(53.5) - np.log1p(1.5))
    # week 51: a season back exists for the coming weeks (0..2) but not for their past
    assert a.loc[51, "ly_future_mean"] == pytest.approx(1.0) and np.isnan(a.loc[51, "ly_growth"])
    # shorter than a season: seasonal growth falls back to the naive forecast (this week's units)
    assert np.isnan(a.loc[50, "ly_future_mean"])
    assert a.loc[50, "seasonal_growth"] == pytest.approx(50 / ((47 + 48 + 49 + 50) / 4))
    b = f[frame["unique_id"] == "b"].reset_index(drop=True)
    assert b["ly_future_mean"].isna().all()  # nothing leaks across series
    assert b.loc[9, "seasonal_growth"] == pytest.approx(2 / 2)
    assert b.loc[0, "past_mean"] == pytest.approx(2 / 4)  # the label's sum / lookback
    assert (f["woy"] == frame["ds"].dt.isocalendar().week.to_numpy()).all()


def test_last_seasons_growth_is_the_label_a_season_earlier():
    frame = _panel(n_items=6, n_weeks=70)
    lab = _labels(frame).set_index(["unique_id", "ds"])["growth_score"]
    f = pd.concat([frame, seasonal_features(frame, lookback=L, horizon=H, floor=1.0)], axis=1)
    f = f[f["ly_growth"].notna()]
    expect = lab.reindex(pd.MultiIndex.from_arrays([f["unique_id"], f["ds"] - pd.Timedelta(weeks=52)]))
    assert len(f) > 50
    np.testing.assert_allclose(f["ly_growth"].to_numpy(), expect.to_numpy())


def test_forecast_features_by_hand():
    c = pd.Timestamp("2023-01-02")
    fc = pd.DataFrame({
        "unique_id": ["x", "x", "y", "y"], "cutoff": c, "ds": [c + pd.Timedelta(weeks=k) for k in (1, 2, 1, 2)],
        "blend": [4.0, 6.0, 1.0, 1.0], "blend-q10": [2.0, 2.0, 0.0, 0.0], "blend-q90": [8.0, 10.0, 3.0, 3.0],
        "m1": [2.0, 4.0, 1.0, 1.0], "m2": [6.0, 8.0, 1.0, 1.0], "y": [1e9] * 4,
    })
    past = pd.DataFrame({"unique_id": ["x", "y"], "ds": c, "past_mean": [2.5, 0.25]})
    ff = forecast_features(fc, past, models=["blend", "m1", "m2"], floor=1.0, interval_model="blend").set_index("unique_id")
    assert ff.loc["x", "fc_growth_blend"] == pytest.approx(5 / 2.5)
    assert ff.loc["y", "fc_growth_blend"] == pytest.approx(1 / 1.0)  # floored denominator
    assert ff.loc["x", "fc_growth_m2"] == pytest.approx(7 / 2.5)
    assert ff.loc["x", "fc_interval_width"] == pytest.approx((9 - 2) / 5)
    assert ff.loc["x", "fc_disagreement"] == pytest.approx(np.std([3.0, 7.0]) / 5.0)
    assert ff.loc["y", "fc_disagreement"] == 0.0
    assert (ff["ds"] == c).all()


def test_the_members_disagreement_counts_no_combined_forecast():
    """The blend and the growth blend combine the members: scaling the blend's point (its checked
    factor) moves its own growth feature, never the members' disagreement."""
    frame = _panel(n_items=20, n_weeks=70)
    c = frame["ds"].max() - pd.Timedelta(weeks=H)
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    fc = _forecast(frame, c, seed=0)
    fc["growth_blend"] = fc["blend"]
    season = hs.seasonal_features(train, lookback=L, horizon=H, floor=1.0, season=52)
    models = ["growth_blend", "naive", "seasonal_naive", "blend"]

    def features(f):
        return hs.classifier_features(train, season, f, None, cutoff=c, covariates=[], settings=SETTINGS,
                                      models=models)[0]

    a, b = features(fc), features(fc.assign(blend=0.7 * fc["blend"]))
    at = a["fc_disagreement"].notna()
    assert at.sum() == 20
    np.testing.assert_array_equal(a.loc[at, "fc_disagreement"], b.loc[at, "fc_disagreement"])
    assert not np.allclose(a.loc[at, "fc_growth_blend"], b.loc[at, "fc_growth_blend"])
    means = fc.groupby("unique_id")[["naive", "seasonal_naive"]].mean().to_numpy()
    expect = means.std(axis=1) / np.maximum(means.mean(axis=1), 1.0)
    np.testing.assert_allclose(np.sort(a.loc[at, "fc_disagreement"].to_numpy()), np.sort(expect))


# --------------------------------------------------------------------------- the final combination
def _earlier(n_origins: int, n_items: int, make_label, seed: int = 0):
    """Scores at `n_origins` earlier origins and labels from `make_label(scores) -> 0/1`."""
    rng = np.random.default_rng(seed)
    rows, labs = [], []
    for k in range(n_origins):
        c = pd.Timestamp("2023-01-02") + pd.Timedelta(weeks=4 * k)
        s = {n: rng.normal(size=n_items) for n in ("momentum", "seasonal_growth", "forecast_growth")}
        y = make_label(s)
        ids = [f"i{i}" for i in range(n_items)]
        for n, v in s.items():
            rows.append(pd.DataFrame({"unique_id": ids, "cutoff": c, "model": n, "score": v}))
        labs.append(pd.DataFrame({"unique_id": ids, "ds": c, "label": y.astype(float)}))
    return pd.concat(rows, ignore_index=True), pd.concat(labs, ignore_index=True)


def _top(v: np.ndarray, share: float = 0.1) -> np.ndarray:
    return v >= np.quantile(v, 1 - share)


def test_the_combination_picks_the_scorer_that_found_the_hot_sellers():
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    earlier, labels = _earlier(3, 300, lambda s: _top(s["seasonal_growth"]))
    c = choose(names, earlier, labels, min_origins=1, weight_step=0.25)
    assert c.method == "single" and c.weights == {"seasonal_growth": 1.0}
    assert c.ap["seasonal_growth"] == pytest.approx(1.0) and c.ap["forecast_growth"] < 0.5


def test_the_combination_stacks_when_two_scorers_each_hold_half_the_signal():
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    earlier, labels = _earlier(4, 400, lambda s: _top(s["seasonal_growth"] + s["forecast_growth"]), seed=1)
    c = choose(names, earlier, labels, min_origins=2, weight_step=0.25)
    assert c.method == "stack"
    assert c.weights == {"forecast_growth": 0.5, "seasonal_growth": 0.5}
    assert c.ap["cv_stack"] > c.ap["cv_single"]


def test_a_stack_whose_held_out_gain_is_within_its_standard_error_is_not_taken():
    """Forecast growth holds a little of the signal: the stack wins the left-out origins on
    average, but by less than one standard error of its per-origin gains: a chance win."""
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    rng = np.random.default_rng(103)
    earlier, labels = _earlier(5, 300, lambda s: _top(s["seasonal_growth"] + 0.35 * s["forecast_growth"]
                                                      + rng.normal(size=300)), seed=3)
    c = choose(names, earlier, labels, min_origins=2, weight_step=0.25)
    assert 0 < c.ap["cv_stack"] - c.ap["cv_single"] < c.ap["cv_gain_se"]
    assert c.method == "single" and c.weights == {"seasonal_growth": 1.0}


def test_two_scorers_within_noise_of_each_other_are_averaged():
    """Origins alternate between hot sellers found by forecast growth and by seasonal growth: the
    one ahead on mean AP leads by far less than two standard errors of its per-origin leads, so
    with a 2 s.e. tie margin the final ranking averages the two; with 0 it keeps the leader."""
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    turn = itertools.count()
    earlier, labels = _earlier(4, 300, lambda s: _top(s["seasonal_growth"] if next(turn) % 2 else s["forecast_growth"]))
    alone = choose(names, earlier, labels, min_origins=2, weight_step=0.25)
    assert alone.method == "single" and len(alone.weights) == 1
    assert 0 <= alone.ap["tie_gap"] < 2 * alone.ap["tie_gap_se"]
    both = choose(names, earlier, labels, min_origins=2, weight_step=0.25, tie_margin_se=2.0)
    assert both.method == "tie" and both.weights == {"forecast_growth": 0.5, "seasonal_growth": 0.5}


def test_the_tie_rule_needs_three_known_origins():
    """Two origins where forecast growth and seasonal growth take turns: the lead's standard error
    rests on one degree of freedom, so the leader stays alone; with a third origin the same rule
    averages them."""
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    turn = itertools.count()
    earlier, labels = _earlier(3, 300, lambda s: _top(s["forecast_growth"] if next(turn) % 2 == 0 else s["seasonal_growth"]))
    two = earlier[earlier["cutoff"] < earlier["cutoff"].max()]
    c2 = choose(names, two, labels, min_origins=2, weight_step=0.25, tie_margin_se=2.0)
    assert c2.method == "single" and len(c2.origins) == 2
    assert 0 <= c2.ap["tie_gap"] < 2 * c2.ap["tie_gap_se"]  # within the margin: the tie would have been taken
    c3 = choose(names, earlier, labels, min_origins=2, weight_step=0.25, tie_margin_se=2.0)
    assert c3.method == "tie" and c3.weights == {"forecast_growth": 0.5, "seasonal_growth": 0.5}
    assert choose(names, two, labels, min_origins=2, weight_step=0.25, tie_margin_se=2.0,
                  tie_min_origins=2).method == "tie"


def test_a_clear_leader_is_not_averaged():
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    earlier, labels = _earlier(4, 300, lambda s: _top(s["seasonal_growth"]))
    c = choose(names, earlier, labels, min_origins=2, weight_step=0.25, tie_margin_se=2.0)
    assert c.method == "single" and c.weights == {"seasonal_growth": 1.0}
    assert c.ap["tie_gap"] > 2 * c.ap["tie_gap_se"]


def test_items_whose_ranks_sum_alike_are_ordered_by_the_leading_scorer():
    """Ranks 1..4 against 4..1: every item's half-and-half sum is the same; the leader (the first
    of equal weights, or the heavier) orders them, whatever order the rows come in."""
    ids = ["i0", "i1", "i2", "i3"]
    scores = {"forecast_growth": pd.Series([1.0, 2.0, 3.0, 4.0], index=ids),
              "classifier": pd.Series([4.0, 3.0, 2.0, 1.0], index=ids)}
    by_growth = final_score(scores, Choice("tie", {"forecast_growth": 0.5, "classifier": 0.5}))
    assert by_growth.round(6).nunique() == 1  # the sums tie
    assert list(by_growth.sort_values(ascending=False).index) == ["i3", "i2", "i1", "i0"]
    by_classifier = final_score(scores, Choice("tie", {"classifier": 0.5, "forecast_growth": 0.5}))
    assert list(by_classifier.sort_values(ascending=False).index) == ["i0", "i1", "i2", "i3"]
    shuffled = {k: v.iloc[[2, 0, 3, 1]] for k, v in scores.items()}
    assert final_score(shuffled, Choice("tie", {"classifier": 0.5, "forecast_growth": 0.5})).idxmax() == "i0"
    heavier = final_score(scores, Choice("stack", {"forecast_growth": 0.25, "classifier": 0.75}))
    assert heavier.idxmax() == "i0"
    # a single scorer is its own percentile rank
    assert final_score(scores, Choice("single", {"classifier": 1.0})).tolist() == [1.0, 0.75, 0.5, 0.25]


def test_the_combination_falls_back_to_forecast_growth_without_enough_known_origins():
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    earlier, labels = _earlier(2, 100, lambda s: _top(s["seasonal_growth"]))
    assert choose(names, None, labels, min_origins=1, weight_step=0.25).weights == {"forecast_growth": 1.0}
    c = choose(names, earlier, labels, min_origins=3, weight_step=0.25)
    assert c.method == "fallback" and c.weights == {"forecast_growth": 1.0} and len(c.origins) == 2
    # labels of the earlier origins not known yet: nothing to learn from
    c = choose(names, earlier, labels.iloc[:0], min_origins=1, weight_step=0.25)
    assert c.method == "fallback"


def test_an_origin_with_too_few_hot_sellers_does_not_count():
    """Three earlier origins whose labels are the top 2% of 300 items (6 hot sellers each): with
    `min_positives` 10 none counts, so the ranking falls back; with 5 they teach the winner."""
    names = ["momentum", "seasonal_growth", "forecast_growth"]
    earlier, labels = _earlier(3, 300, lambda s: _top(s["seasonal_growth"], 0.02))
    assert labels.groupby("ds")["label"].sum().eq(6).all()
    few = choose(names, earlier, labels, min_origins=2, weight_step=0.25, min_positives=10)
    assert few.method == "fallback" and few.weights == {"forecast_growth": 1.0} and few.origins == []
    enough = choose(names, earlier, labels, min_origins=2, weight_step=0.25, min_positives=5)
    assert enough.method != "fallback" and enough.weights == {"seasonal_growth": 1.0} and len(enough.origins) == 3


def test_weight_grid_is_the_simplex():
    g = grid(["a", "b", "c"], 0.25)
    assert len(g) == 15 and all(sum(w.values()) == pytest.approx(1.0) for w in g)
    assert {"a": 1.0} in g and {"a": 0.5, "c": 0.5} in g


# --------------------------------------------------------------------------- score_origin
def _origins(frame: pd.DataFrame, cutoffs: list[pd.Timestamp], labels: pd.DataFrame, settings=SETTINGS,
             past_source=None):
    """score_origin at each cutoff in turn, as the backtest calls it."""
    frames, scores, out = [], [], []
    for k, c in enumerate(cutoffs):
        fc = _forecast(frame, c, seed=k)
        train = frame[frame["ds"] <= c].reset_index(drop=True)
        s, clf = hs.score_origin(train, fc, labels, cutoff=c, covariates=[], settings=settings,
                                 earlier_forecasts=frames, earlier_scores=scores, past_source=past_source)
        frames.append(fc.assign(cutoff=c))
        scores.append(s)
        out.append((s, clf))
    return out


def test_score_origin_without_known_labels_ranks_by_forecast_growth():
    frame = _panel(n_items=20, n_weeks=30)
    labels = _labels(frame)
    c = frame["ds"].min() + pd.Timedelta(weeks=2)  # no label is known this early
    fc = _forecast(frame, c, seed=0)
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    s, clf = hs.score_origin(train, fc, labels, cutoff=c, covariates=[], settings=SETTINGS)
    assert clf is None
    assert set(s["model"]) == {"momentum", "seasonal_growth", "forecast_growth", "final"}
    w = s.pivot(index="unique_id", columns="model", values="score")
    np.testing.assert_allclose(w["final"], w["forecast_growth"].rank(pct=True))
    assert s.attrs["choice"]["method"] == "fallback"


def test_score_origin_learns_from_earlier_origins_and_reads_no_future_label():
    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    last = frame["ds"].max() - pd.Timedelta(weeks=H)
    cutoffs = [last - pd.Timedelta(weeks=4 * k) for k in range(3, -1, -1)]
    clean = _origins(frame, cutoffs, labels)
    s, clf = clean[-1]
    assert set(s["model"]) == {"momentum", "seasonal_growth", "forecast_growth", "classifier", "final"}
    assert s.attrs["choice"]["method"] in ("single", "stack") and len(s.attrs["choice"]["origins"]) >= 1
    assert {"ly_growth", "seasonal_growth", "yoy_4", "woy", "fc_growth_blend", "fc_growth_naive",
            "fc_interval_width", "fc_disagreement"} <= set(clf.feature_names_)
    # labels not yet available at a cutoff are poisoned: every score at every cutoff is unchanged
    for (s, _), c in zip(clean, cutoffs, strict=True):
        close = pd.Timestamp(c + pd.Timedelta(weeks=1), tz="UTC")
        poisoned = labels.copy()
        late = poisoned["label_available_at"] > close
        assert late.any()
        poisoned.loc[late, "label"] = 1.0 - poisoned.loc[late, "label"]
        poisoned.loc[late, "label_available_at"] = close + pd.Timedelta(weeks=100)
        earlier = [f for f in clean if f[0]["cutoff"].iloc[0] < c]
        fcs = [_forecast(frame, e[0]["cutoff"].iloc[0], seed=k).assign(cutoff=e[0]["cutoff"].iloc[0])
               for k, e in enumerate(earlier)]
        train = frame[frame["ds"] <= c].reset_index(drop=True)
        again, _ = hs.score_origin(train, _forecast(frame, c, seed=cutoffs.index(c)), poisoned, cutoff=c,
                                   covariates=[], settings=SETTINGS, earlier_forecasts=fcs,
                                   earlier_scores=[e[0] for e in earlier])
        pd.testing.assert_frame_equal(s, again)


def test_past_features_computed_once_for_the_panel_give_every_origin_the_same_scores():
    """The backtest hands score_origin the whole panel's past features (`lags.PastFeatures`):
    every origin's scores must be those computed from that origin's history alone."""
    from training.lags import PastFeatures

    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    last = frame["ds"].max() - pd.Timedelta(weeks=H)
    cutoffs = [last - pd.Timedelta(weeks=4 * k) for k in range(3, -1, -1)]
    alone = _origins(frame, cutoffs, labels)
    shared = _origins(frame, cutoffs, labels, past_source=PastFeatures(frame))
    assert any(clf is not None for _, clf in alone)
    for (a, _), (b, _) in zip(alone, shared, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_the_final_fit_learns_from_every_backtest_origin():
    """As `darkhorse train` calls it: the backtest's forecasts and scored frame (with labels)."""
    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    last = frame["ds"].max()
    cutoffs = [last - pd.Timedelta(weeks=H + 4 * k) for k in range(3, -1, -1)]
    runs = _origins(frame, cutoffs, labels)
    forecasts = pd.concat([_forecast(frame, c, seed=k).assign(cutoff=c) for k, c in enumerate(cutoffs)])
    scored = pd.concat([s for s, _ in runs]).merge(
        labels[["unique_id", "ds", "label"]].rename(columns={"ds": "cutoff"}), on=["unique_id", "cutoff"], how="left")
    future = pd.DataFrame({"unique_id": sorted(frame["unique_id"].unique())}).merge(
        pd.DataFrame({"ds": [last + pd.Timedelta(weeks=k) for k in range(1, H + 1)]}), how="cross")
    future["blend"] = future["blend-q50"] = 5.0
    future["blend-q10"], future["blend-q90"], future["naive"], future["seasonal_naive"] = 2.0, 9.0, 4.0, 6.0
    s, clf = hs.score_origin(frame, future, labels, cutoff=last, covariates=[], settings=SETTINGS,
                             earlier_forecasts=forecasts, earlier_scores=scored)
    assert len(s.attrs["choice"]["origins"]) == len(cutoffs)  # every backtest origin's label is known
    assert s.attrs["choice"]["method"] in ("single", "stack")
    assert clf is not None and clf.n_train_ > 0


def test_realized_values_in_earlier_forecasts_are_never_read():
    frame = _panel(n_items=30, n_weeks=70)
    labels = _labels(frame)
    last = frame["ds"].max() - pd.Timedelta(weeks=H)
    early = [last - pd.Timedelta(weeks=8), last - pd.Timedelta(weeks=4)]
    fcs = [_forecast(frame, c, seed=k).assign(cutoff=c) for k, c in enumerate(early)]
    train = frame[frame["ds"] <= last].reset_index(drop=True)
    args = dict(cutoff=last, covariates=[], settings=SETTINGS)
    plain, _ = hs.score_origin(train, _forecast(frame, last, seed=9), labels, earlier_forecasts=fcs, **args)
    noisy = [f.assign(y=np.random.default_rng(3).normal(size=len(f))) for f in fcs]
    again, _ = hs.score_origin(train, _forecast(frame, last, seed=9), labels, earlier_forecasts=noisy, **args)
    pd.testing.assert_frame_equal(plain, again)


# --------------------------------------------------------------------------- settings
def test_settings_travel_from_the_config():
    from darkhorse.core.config import Config

    cfg = Config.model_validate({
        "sources": [{"name": "s", "kind": "order_lines", "path": "x.parquet"}],
        "panel": {"lookback_weeks": 6, "horizon_weeks": 8, "growth_floor": 2.0},
        "hot_sellers": {"min_labelled_origins": 3, "min_origin_positives": 4, "tie_margin_se": 1.5,
                        "classifier": {"n_estimators": 5}},
    })
    s = hs.Settings.from_config(cfg)
    assert (s.lookback, s.horizon, s.floor, s.min_labelled_origins, s.min_origin_positives) == (6, 8, 2.0, 3, 4)
    assert s.tie_margin_se == 1.5
    assert s.forecast_model == "blend" and s.classifier == {"n_estimators": 5} and s.transformer is None
    assert dataclasses.replace(s, weight_step=0.5).weight_step == 0.5
    with pytest.raises((ConfigError, ValueError), match="stack_weight_step"):
        HotSellerConfig(stack_weight_step=0.3)
    with pytest.raises((ConfigError, ValueError), match="tie_margin_se"):
        HotSellerConfig(tie_margin_se=-1)


def test_score_origin_falls_back_to_the_classifier_when_it_is_trained_but_no_origin_is_scored():
    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    c = frame["ds"].max() - pd.Timedelta(weeks=H)  # labels of earlier weeks are known, no earlier scores
    fc = _forecast(frame, c, seed=0)
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    s, clf = hs.score_origin(train, fc, labels, cutoff=c, covariates=[], settings=SETTINGS)
    assert clf is not None
    w = s.pivot(index="unique_id", columns="model", values="score")
    np.testing.assert_allclose(w["final"], w["classifier"].rank(pct=True))
    assert s.attrs["choice"]["method"] == "fallback" and s.attrs["choice"]["weights"] == {"classifier": 1.0}


def test_the_season_is_unlearned_from_when_the_origin_sees_it_until_horizon_known_weeks_did():
    first, w = pd.Timestamp("2022-01-03"), pd.Timedelta(weeks=1)
    start = first + 51 * w  # the first origin whose last season's coming weeks are in the panel
    at = {"season": 52, "horizon": 3}
    assert not season_unlearned(first, start - 4 * w, cutoff=start - w, **at)  # no season to see yet
    assert season_unlearned(first, None, cutoff=start, **at)  # no label known at all
    assert season_unlearned(first, start - 3 * w, cutoff=start, **at)
    assert season_unlearned(first, start + 1 * w, cutoff=start + 4 * w, **at)  # 2 known weeks saw it
    assert not season_unlearned(first, start + 2 * w, cutoff=start + 5 * w, **at)  # 3 = the horizon


def test_the_fallback_averages_three_scorers_only_where_the_classifier_learned_without_the_season():
    names = ["momentum", "seasonal_growth", "forecast_growth", "classifier"]
    assert fallback_weights(names) == {"classifier": 1.0}
    assert fallback_weights(names, season_unlearned=True) == dict.fromkeys(SEASON_FALLBACK, 1 / 3)
    assert fallback_weights(names[:3], season_unlearned=True) == {"forecast_growth": 1.0}  # no classifier yet
    c = choose(names, None, pd.DataFrame(), min_origins=2, weight_step=0.5,
               fallback=fallback_weights(names, season_unlearned=True))
    assert c.method == "fallback" and c.weights == dict.fromkeys(SEASON_FALLBACK, 1 / 3)


@pytest.mark.parametrize("weeks, three", [(50, False), (55, True), (56, False)])
def test_score_origin_averages_the_season_in_where_no_known_week_saw_it(weeks, three):
    """At `weeks` after the panel's first week, with H = 3 and no earlier origin scored: before
    week 51 the origin sees no season (the classifier alone); from there until 3 known weeks saw it
    (labels known H weeks late: week 56) the classifier, forecast growth and seasonal growth."""
    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    c = frame["ds"].min() + pd.Timedelta(weeks=weeks)
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    s, clf = hs.score_origin(train, _forecast(frame, c, seed=0), labels, cutoff=c, covariates=[], settings=SETTINGS)
    assert clf is not None and s.attrs["choice"]["method"] == "fallback"
    w = s.pivot(index="unique_id", columns="model", values="score")
    if not three:
        assert s.attrs["choice"]["weights"] == {"classifier": 1.0}
        np.testing.assert_allclose(w["final"], w["classifier"].rank(pct=True))
        return
    assert s.attrs["choice"]["weights"] == dict.fromkeys(SEASON_FALLBACK, 1 / 3)
    mean = sum(w[n].rank(pct=True) for n in SEASON_FALLBACK) / 3
    np.testing.assert_allclose(w["final"], mean + TIE_BREAK * w["classifier"].rank(pct=True))


# --------------------------------------------------------------------------- growth blend
def _three_members(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Forecasts after `cutoff` by an exact `naive` (the realized values), a `seasonal_naive`
    twice too high and a `median` ten times too high, each with its 10/50/90% levels."""
    fut = frame[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + pd.Timedelta(weeks=H))].copy()
    for name, k in (("naive", 1.0), ("seasonal_naive", 2.0), ("median", 10.0)):
        fut[name] = fut[f"{name}-q50"] = k * fut["y"]
        fut[f"{name}-q10"], fut[f"{name}-q90"] = 0.5 * k * fut["y"], 1.5 * k * fut["y"]
    return fut.assign(cutoff=cutoff)


def test_the_growth_blend_leaves_out_the_members_not_marked_growth():
    from darkhorse.core.config import ModelSpec

    frame = _panel(n_items=12, n_weeks=40)
    last = frame["ds"].max() - pd.Timedelta(weeks=H)
    validation = pd.concat([_three_members(frame, last - pd.Timedelta(weeks=4 * k)) for k in (3, 2, 1)])
    validation = validation[validation["ds"] <= last]
    fc = _three_members(frame, last).drop(columns="y")
    specs = [ModelSpec(model="naive"), ModelSpec(model="seasonal_naive"),
             ModelSpec(model="xgboost", alias="median", growth=False)]
    params = {"grid_step": 0.5, "min_points": 2, "shrinkage": "auto", "objective": "mae", "horizon_buckets": [4, 8]}
    out = hs.with_growth_blend(fc, validation, specs, [0.1, 0.5, 0.9], params)
    assert len(out) == len(fc) and {"growth_blend", "growth_blend-q10", "growth_blend-q90"} <= set(out.columns)
    # naive was exact on every earlier window: the growth blend is naive, the median member unread
    np.testing.assert_allclose(out["growth_blend"], fc["naive"])
    np.testing.assert_allclose(out["growth_blend-q90"], fc["naive-q90"])
    # with every member feeding growth, nothing is added (the growth score reads the blend)
    every = [*specs[:2], ModelSpec(model="xgboost", alias="median")]
    assert "growth_blend" not in hs.with_growth_blend(fc, validation, every, [0.1, 0.5, 0.9], params).columns


def test_forecast_growth_reads_the_growth_blend_where_there_is_one():
    frame = _panel(n_items=20, n_weeks=30)
    labels = _labels(frame)
    c = frame["ds"].min() + pd.Timedelta(weeks=2)
    fc = _forecast(frame, c, seed=0)
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    fc["growth_blend"] = fc["naive"]
    s, _ = hs.score_origin(train, fc, labels, cutoff=c, covariates=[], settings=SETTINGS)
    got = s[s["model"] == "forecast_growth"].set_index("unique_id")["score"]
    want = hs.forecast_growth(train, fc, "naive", lookback=L, floor=1.0)
    np.testing.assert_allclose(got.sort_index().to_numpy(), want.sort_index().to_numpy())
    blend = hs.forecast_growth(train, fc, "blend", lookback=L, floor=1.0)
    assert not np.allclose(got.sort_index().to_numpy(), blend.sort_index().to_numpy())
