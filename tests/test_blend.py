"""The blend's weights: per horizon bucket, shrinkage chosen on the data, members dropped cleanly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.blend.model import subset_blend
from training.blend.weights import BEST_MEMBER, CANDIDATES, SHRINKAGE_GRID, combine, learn_weights
from training.metrics import bucket_of

QS: list[float] = []


def _validation(n_series: int, cutoffs: int, rule, seed: int = 0) -> pd.DataFrame:
    """Rows (series, cutoff, step 1..12) with members a and b; `rule(series, cutoff, step, rng)`
    returns (error of a, error of b)."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2024-01-01")
    for i in range(n_series):
        for c in range(cutoffs):
            cutoff = base + pd.Timedelta(weeks=4 * c)
            for k in range(1, 13):
                y = 10.0 + rng.normal()
                ea, eb = rule(i, c, k, rng)
                rows.append({"unique_id": f"s{i}", "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k),
                             "y": y, "a": y + ea, "b": y + eb, "scale": 1.0})
    return pd.DataFrame(rows)


def test_bucket_of_splits_steps():
    assert list(bucket_of(np.arange(1, 13), [4, 8])) == [0] * 4 + [1] * 4 + [2] * 4


def test_each_horizon_bucket_learns_from_its_own_errors():
    # a is exact for steps 1-4 and poor later; b the other way round
    v = _validation(20, 2, lambda i, c, k, r: (0.0, 5.0) if k <= 4 else (5.0, 0.0))
    w, g = learn_weights(v, ["a", "b"], shrinkage=0.0)
    assert g.loc[0, "a"] == 1.0 and g.loc[2, "b"] == 1.0 and g.loc[1, "b"] == 1.0
    preds = v[v["cutoff"] == v["cutoff"].max()].drop(columns="y")
    out = combine(preds, ["a", "b"], w, g, QS)
    exact = np.where((out["ds"] - out["cutoff"]).dt.days // 7 <= 4, preds["a"], preds["b"])
    np.testing.assert_allclose(out["blend"].to_numpy(), exact)


def test_shrinkage_is_large_when_series_errors_are_noise():
    # which member is closer flips at random: a series' own past says nothing
    v = _validation(60, 3, lambda i, c, k, r: (r.normal(0, 2), r.normal(0, 2)))
    w, _ = learn_weights(v, ["a", "b"])
    assert w.attrs["shrinkage"] >= 16.0


def test_shrinkage_is_small_when_series_differ_for_good():
    # even series: a is exact; odd series: b is exact, at every cutoff
    v = _validation(40, 3, lambda i, c, k, r: (0.0, 4.0) if i % 2 == 0 else (4.0, 0.0))
    w, _ = learn_weights(v, ["a", "b"])
    assert w.attrs["shrinkage"] <= 4.0
    even = w[w["unique_id"] == "s0"]
    assert (even["a"] > 0.8).all()


def test_one_cutoff_uses_the_fallback_shrinkage():
    v = _validation(10, 1, lambda i, c, k, r: (0.0, 1.0))
    w, _ = learn_weights(v, ["a", "b"], fallback_shrinkage=7.0)
    assert w.attrs["shrinkage"] == 7.0
    assert 7.0 not in SHRINKAGE_GRID


def test_missing_bucket_takes_the_nearest_shorter_one():
    v = _validation(20, 2, lambda i, c, k, r: (0.0, 5.0))
    v = v[(v["ds"] - v["cutoff"]).dt.days // 7 <= 4]  # only steps 1-4 are known
    w, g = learn_weights(v, ["a", "b"], shrinkage=0.0)
    assert (g["a"] == 1.0).all()
    assert set(w["bucket"]) == {0, 1, 2}


def test_blend_fit_takes_the_horizon(frame=None):
    from training.models import create

    from .retail_frames import weekly_retail

    frame = weekly_retail(20)
    b = create("blend", members=[{"model": "naive"}, {"model": "seasonal_naive"}], inner_windows=3)
    with pytest.raises(ValueError, match="fixed horizon"):
        b.fit(frame)
    b.fit(frame, horizon=6)
    assert b.horizon_ == 6 and b.shrinkage_ in SHRINKAGE_GRID
    out = b.predict(h=6)
    assert len(out) == frame["unique_id"].nunique() * 6


def _sparse_validation(seed: int = 0) -> pd.DataFrame:
    """Intermittent demand: 70% zero weeks, members whose q10 sits above zero."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2024-01-01")
    for i in range(40):
        for c in range(2):
            cutoff = base + pd.Timedelta(weeks=4 * c)
            for k in range(1, 13):
                y = 0.0 if rng.random() < 0.7 else float(rng.poisson(4) + 1)
                row = {"unique_id": f"s{i}", "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k), "y": y, "scale": 1.0}
                for m in ("a", "b"):
                    row[m] = 1.5
                    row[f"{m}-q10"], row[f"{m}-q50"], row[f"{m}-q90"] = 1.0, 1.5, 2.5
                rows.append(row)
    return pd.DataFrame(rows)


def test_calibration_lowers_a_low_bound_to_zero_on_intermittent_demand():
    from training.blend.intervals import apply_widths, calibrate_widths

    v = _sparse_validation()
    w, g = learn_weights(v, ["a", "b"], shrinkage=0.0)
    factors = calibrate_widths(v, ["a", "b"], w, g)
    out = combine(v.drop(columns="y"), ["a", "b"], w, g, [0.1, 0.5, 0.9])
    out = apply_widths(out, "blend", [0.1, 0.5, 0.9], factors)
    # the 10% quantile of a demand that is zero 70% of the time is zero
    assert (out["blend-q10"] == 0.0).all()
    y = v["y"].to_numpy()
    inside = (y >= out["blend-q10"].to_numpy()) & (y <= out["blend-q90"].to_numpy())
    assert inside.mean() >= 0.8
    # and the 90% bound is the lowest one that holds 90% of the weeks, not wider
    assert np.mean(y <= out["blend-q90"].to_numpy()) >= 0.9
    assert np.mean(y < out["blend-q90"].to_numpy()) < 0.95


def test_calibration_keeps_continuous_bounds_at_their_level():
    from training.blend.intervals import apply_widths, calibrate_widths

    rng = np.random.default_rng(3)
    v = _validation(30, 2, lambda i, c, k, r: (0.0, 0.0))
    v["y"] = 10.0 + rng.normal(size=len(v)) * 2.0
    for m in ("a", "b"):
        v[m] = 10.0
        v[f"{m}-q50"], v[f"{m}-q10"], v[f"{m}-q90"] = 10.0, 9.0, 11.0  # far too narrow
    w, g = learn_weights(v, ["a", "b"], shrinkage=0.0)
    factors = calibrate_widths(v, ["a", "b"], w, g)
    out = apply_widths(combine(v.drop(columns="y"), ["a", "b"], w, g, [0.1, 0.5, 0.9]), "blend", [0.1, 0.5, 0.9], factors)
    below10 = np.mean(v["y"].to_numpy() <= out["blend-q10"].to_numpy())
    below90 = np.mean(v["y"].to_numpy() <= out["blend-q90"].to_numpy())
    assert 0.08 <= below10 <= 0.14 and 0.88 <= below90 <= 0.93


def test_held_out_choice_falls_back_to_the_best_member():
    # a is better on every series and cutoff; b's per-series wins are noise
    v = _validation(40, 4, lambda i, c, k, r: (r.normal(0, 1.0), r.normal(0, 3.0)))
    w, g = learn_weights(v, ["a", "b"])
    assert w.attrs["choice"] in (BEST_MEMBER, float("inf"), 64.0)
    assert (g["a"] >= 0.7).all()
    losses = w.attrs["heldout_loss"]
    assert set(losses) == {str(c) for c in CANDIDATES}
    assert losses[str(w.attrs["choice"])] == min(losses.values())


def _noisy(n_series: int, cutoffs: int, seed: int, start: int = 0) -> pd.DataFrame:
    """Errors that grow with the step (sd 1 + step/2) around members whose 10-90% band is a
    constant +-1: far too narrow, more so the further ahead."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2024-01-01")
    for i in range(n_series):
        for c in range(start, start + cutoffs):
            cutoff = base + pd.Timedelta(weeks=4 * c)
            for k in range(1, 13):
                f = 50.0 + i
                y = f + rng.normal(0, 1 + k / 2)
                row = {"unique_id": f"s{i}", "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k), "y": y, "scale": 2.0}
                for m in ("a", "b"):
                    row[m] = row[f"{m}-q50"] = f
                    row[f"{m}-q10"], row[f"{m}-q90"] = f - 1.0, f + 1.0
                rows.append(row)
    return pd.DataFrame(rows)


def test_conformal_intervals_hold_on_later_weeks_per_horizon_bucket():
    from training.blend.intervals import _bounds, _sides, conformal_offsets, conformal_table
    from training.blend.weights import _learn
    from training.metrics import bucket_of

    v = _noisy(60, 4, seed=1)
    w, g, held, choice = _learn(v, ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto",
                                objective="mae", horizon_buckets=[4, 8], fallback_shrinkage=16.0)
    # held out in time order: every cutoff but the first, weights learned on the earlier ones
    assert len(held) == 3
    table = conformal_table(held, choice, ["a", "b"], (0.1, 0.9), 3)
    assert table.shape == (3, 99)
    assert (np.diff(table, axis=1) >= 0).all()
    assert table[2, 89] > table[0, 89]  # far steps need a wider band than near ones
    test = _noisy(60, 2, seed=2, start=10)
    b = combine(test, ["a", "b"], w, g, [0.1, 0.5, 0.9], name="x")
    steps = ((test["ds"] - test["cutoff"]).dt.days // 7).to_numpy()
    buckets = bucket_of(steps, [4, 8])
    below, above = _sides(b["x-q50"].to_numpy(), b["x-q10"].to_numpy(), b["x-q90"].to_numpy(), test["scale"].to_numpy())
    y = test["y"].to_numpy()
    for lo, hi, target in ((0.1, 0.9, 0.8), (0.01, 0.99, 0.98)):
        low = _bounds(b["x-q50"].to_numpy(), below, above, conformal_offsets(table, buckets, lo))
        high = _bounds(b["x-q50"].to_numpy(), below, above, conformal_offsets(table, buckets, hi))
        for k in range(3):
            inside = ((y >= low) & (y <= high))[buckets == k].mean()
            assert abs(inside - target) < (0.05 if target == 0.8 else 0.025), (lo, k, inside)
    # the members' own band (+-1) covers far less than 80% at the far steps
    assert ((y >= b["x-q10"]) & (y <= b["x-q90"]))[buckets == 2].mean() < 0.4


def test_blend_serves_any_level_from_the_conformal_scores():
    from training.models import create

    from .retail_frames import weekly_retail

    frame = weekly_retail(40)
    b = create("blend", members=[{"model": "naive"}, {"model": "moving_average", "params": {"window": 4}}],
               inner_windows=4, intervals="conformal").fit(frame, horizon=6)
    assert b.intervals_ == "conformal" and b.conformal_ is not None and b.conformal_.shape == (3, 99)
    out = b.predict(h=6, quantiles=[0.01, 0.03, 0.5, 0.97, 0.99])
    q = out[["blend-q1", "blend-q3", "blend-q50", "blend-q97", "blend-q99"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    assert (q[:, -1] > q[:, 0]).mean() > 0.9


def test_coverage_by_bucket_counts_each_interval_per_step_bucket():
    from training.metrics import coverage_by_bucket

    cutoff = pd.Timestamp("2024-01-01")
    ds = cutoff + pd.to_timedelta(7 * np.arange(1, 13), unit="D")
    y = np.arange(12, dtype="float64")
    fc = pd.DataFrame({"unique_id": "s", "cutoff": cutoff, "ds": ds, "y": y,
                       "m-q1": y - 1, "m-q10": y - 1, "m-q90": y + 1, "m-q99": y + 1})
    fc.loc[fc.index[:2], "m-q10"] = 100.0  # steps 1-2 miss the 80% interval
    fc.loc[fc.index[-1], "m-q99"] = -1.0  # step 12 misses the 98% one
    out = coverage_by_bucket(fc, "m", [0.01, 0.1, 0.5, 0.9, 0.99], [4, 8])
    assert out["1-4"] == {"n": 4, "coverage_80": 0.5, "coverage_98": 1.0}
    assert out["5-8"]["coverage_80"] == 1.0 and out["9+"]["coverage_98"] == 0.75
    assert set(coverage_by_bucket(fc, "m", [0.1, 0.9], [4, 8])["9+"]) == {"n", "coverage_80"}


def test_origin_decay_weighs_recent_cutoffs_more():
    # a is exact on the two older cutoffs and off by 1 on the latest; b is off by 1.5 on the
    # older ones and exact on the latest: every cutoff alike favours a, a strong decay b
    def rule(i, c, k, r):
        return (0.0, 1.5) if c < 2 else (1.0, 0.0)

    v = _validation(20, 3, rule)
    _, flat = learn_weights(v, ["a", "b"], shrinkage=float("inf"))
    _, recent = learn_weights(v, ["a", "b"], shrinkage=float("inf"), origin_decay=0.2)
    assert (flat["a"] == 1.0).all()
    assert (recent["b"] == 1.0).all()
    # a decay of 1 is the unweighted fit
    w1, g1 = learn_weights(v, ["a", "b"], origin_decay=1.0)
    w0, g0 = learn_weights(v, ["a", "b"])
    pd.testing.assert_frame_equal(g1, g0)
    pd.testing.assert_frame_equal(w1, w0)


def _choice(v):
    from training.blend.weights import _learn

    return _learn(v, ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto", objective="mae",
                  horizon_buckets=[4, 8], fallback_shrinkage=16.0)[3]


def test_a_combination_is_kept_only_when_it_beats_the_best_member_beyond_noise():
    # independent errors of the same size: the average is clearly better than either member
    assert _choice(_validation(60, 4, lambda i, c, k, r: (r.normal(0, 2), r.normal(0, 2)))) != BEST_MEMBER

    # b is a's error plus a little noise of its own: mixing them moves the loss by noise only
    def near_copy(i, c, k, r):
        e = r.normal(0, 2)
        return e, e + r.normal(0, 0.3)

    assert _choice(_validation(60, 4, near_copy)) == BEST_MEMBER


def test_pooled_horizon_weights_learn_from_every_step_and_keep_the_buckets_for_intervals():
    # a is exact on steps 1-4 and off by 1 later; b is off by 0.6 everywhere: per bucket a wins
    # steps 1-4 and b the rest; pooled over all steps b wins (mean 0.6 against 0.67) everywhere
    from training.blend.weights import BUCKET, _learn

    def rule(i, c, k, r):
        return (0.0 if k <= 4 else 1.0, 0.6)

    v = _validation(20, 3, rule)
    _, per_bucket = learn_weights(v, ["a", "b"], shrinkage=float("inf"))
    assert per_bucket.loc[0, "a"] == 1.0 and (per_bucket.loc[[1, 2], "b"] == 1.0).all()
    w, pooled = learn_weights(v, ["a", "b"], shrinkage=float("inf"), horizon_weights="pooled")
    assert (pooled["b"] == 1.0).all() and list(pooled.index) == [0, 1, 2]
    assert set(w[BUCKET]) == {0, 1, 2} and (w["b"] == 1.0).all()
    # the held-out rows the conformal intervals are scored on keep their own horizon buckets
    held = _learn(v, ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto", objective="mae",
                  horizon_buckets=[4, 8], fallback_shrinkage=16.0, horizon_weights="pooled")[2]
    assert held and set(np.concatenate([rows[BUCKET].to_numpy() for rows, _ in held])) == {0, 1, 2}


def _uneven(n_series: int, cutoffs: int, seed: int, start: int = 0) -> pd.DataFrame:
    """Normal errors whose spread differs by series (sd 0.5 to 4). Member a forecasts the
    median and a true low quantile, but its high quantile is the median + 1 for every series;
    member b is biased by +3 but its quantiles are the true ones."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2024-01-01")
    z = 1.2816
    for i in range(n_series):
        sd = 0.5 + 3.5 * i / max(n_series - 1, 1)
        for c in range(start, start + cutoffs):
            cutoff = base + pd.Timedelta(weeks=4 * c)
            for k in range(1, 13):
                f = 50.0 + i
                row = {"unique_id": f"s{i}", "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k),
                       "y": f + rng.normal(0, sd), "scale": 2.0,
                       "a": f, "a-q50": f, "a-q10": f - z * sd, "a-q90": f + 1.0,
                       "b": f + 3.0, "b-q50": f, "b-q10": f - z * sd, "b-q90": f + z * sd}
                for q, zq in ((0.05, -1.6449), (0.95, 1.6449)):
                    row[f"a-q{round(q * 100)}"] = f + (zq * sd if q < 0.5 else 1.2)
                    row[f"b-q{round(q * 100)}"] = f + zq * sd
                rows.append(row)
    return pd.DataFrame(rows)


def test_interval_choice_keeps_conformal_when_the_members_bands_are_too_narrow():
    from training.blend.intervals import interval_choice
    from training.blend.weights import _learn, simplex_grid

    v = _noisy(60, 4, seed=1)
    *_, held, choice = _learn(v, ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto",
                              objective="mae", horizon_buckets=[4, 8], fallback_shrinkage=16.0)
    picked, losses = interval_choice(held, choice, ["a", "b"], (0.1, 0.9), 3, simplex_grid(2, 0.1), v)
    assert picked == "conformal"
    assert losses["conformal"] < losses["members"] and losses["conformal"] < losses["levels"]


def test_interval_choice_takes_each_side_from_the_member_whose_quantile_holds():
    from training.blend.intervals import interval_choice, level_weights
    from training.blend.weights import _learn, simplex_grid

    v = _uneven(40, 4, seed=3)
    *_, held, choice = _learn(v, ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto",
                              objective="mae", horizon_buckets=[4, 8], fallback_shrinkage=16.0)
    grid = simplex_grid(2, 0.1)
    picked, losses = interval_choice(held, choice, ["a", "b"], (0.1, 0.9), 3, grid, v)
    # one conformal score cannot give each series its own upper width; b's 90% quantile does
    assert picked == "levels"
    assert losses["levels"] < losses["conformal"] < losses["members"]
    assert level_weights(v, ["a", "b"], grid, 0.9)[1] >= 0.9


def test_level_losses_summed_by_cutoff_and_week_equal_the_loss_of_the_rows_known_at_a_cutoff(monkeypatch):
    """The held-out side weights sum a (cutoff, week) table computed once; every subset it is
    asked about must give the loss of exactly the rows known at that cutoff, also when a
    (cutoff, week) group spans two chunks of the loss matrix."""
    import training.blend.intervals as B
    from training.blend.weights import simplex_grid
    from training.metrics import pinball

    v = _uneven(15, 5, seed=4)
    v.loc[v.sample(frac=0.1, random_state=0).index, "b-q90"] = np.nan  # rows a member lacks drop out
    grid = simplex_grid(2, 0.1)
    monkeypatch.setattr(B, "_LEVEL_CELLS", 7 * len(grid))  # 7 rows a chunk: 15 rows a group
    table = B._LevelLosses.of_rows(v, ["a", "b"], grid, 0.9)
    for c in sorted(v["cutoff"].unique())[1:]:
        known = v[(v["cutoff"] < c) & (v["ds"] <= c)].dropna(subset=["y", "a-q90", "b-q90"])
        direct = (pinball(known["y"].to_numpy()[:, None], known[["a-q90", "b-q90"]].to_numpy() @ grid.T, 0.9)
                  / known["scale"].to_numpy()[:, None]).sum(axis=0)
        mask = table.known_at(c)
        assert mask.sum() == known.groupby(["cutoff", "ds"]).ngroups
        np.testing.assert_allclose(table.sums[mask].sum(axis=0), direct, rtol=1e-12)
        assert np.array_equal(table.best(grid, mask), B.level_weights(known, ["a", "b"], grid, 0.9))
    first = v["cutoff"].min()
    assert table.best(grid, table.known_at(first)) is None  # nothing is known before the first cutoff


def test_a_blend_with_level_weights_serves_each_side_from_its_members():
    from benchmarks.accuracy.replay import Stored
    from training.blend.model import Blend

    v = _uneven(40, 4, seed=3)
    future = _uneven(40, 1, seed=4, start=5)
    cutoff = future["cutoff"].iloc[0]
    qs = [0.05, 0.1, 0.5, 0.9, 0.95]
    fitted = {m: Stored(future[["unique_id", "ds", m, *[f"{m}-q{round(q * 100)}" for q in qs]]], alias=m,
                        cutoff=cutoff, horizon=12) for m in ("a", "b")}
    blend = Blend.from_members(fitted, v, grid_step=0.1)
    assert blend.intervals_ == "levels" and blend.conformal_ is None
    out = blend.predict(h=12, quantiles=qs).merge(future, on=["unique_id", "ds"])
    np.testing.assert_allclose(out["blend"], out["a"])  # the point keeps a: b is biased
    np.testing.assert_allclose(out["blend-q90"], out["b-q90"])  # the upper side is b's
    np.testing.assert_allclose(out["blend-q95"], out["b-q95"])  # every level above the median too
    q = out[[f"blend-q{round(x * 100)}" for x in qs]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    inside = ((out["y"] >= out["blend-q10"]) & (out["y"] <= out["blend-q90"])).mean()
    assert 0.72 < inside < 0.88
    forced = Blend.from_members(fitted, v, grid_step=0.1, intervals="members")
    np.testing.assert_allclose(forced.predict(h=12, quantiles=qs).merge(future, on=["unique_id", "ds"])["blend-q90"],
                               out["a-q90"])


def test_the_configs_interval_source_reaches_the_blend():
    from darkhorse.core.config import load_config
    from training.backtest import _blend_params
    from training.blend.model import Blend

    from .conftest import REPO

    cfg = load_config(REPO / "darkhorse.yaml")
    assert _blend_params(cfg, [])["intervals"] == "auto"
    named = cfg.model_copy(update={"blend": cfg.blend.model_copy(update={"intervals": "levels"})})
    params = {**_blend_params(named, []), "members": [{"model": "naive"}]}
    assert Blend(**params).settings.intervals == "levels"
    with pytest.raises(ValueError, match="intervals"):
        type(cfg.blend)(intervals="widest")


def _biased(n_series: int, cutoffs: int, seed: int, bias, start: int = 0) -> pd.DataFrame:
    """Members a and b that forecast `bias(cutoff index)` times the series' level (a little
    apart), with a 10-90% band of +-10% around it; actuals scatter about the level."""
    rng = np.random.default_rng(seed)
    rows = []
    base = pd.Timestamp("2024-01-01")
    for i in range(n_series):
        level = 20.0 + i
        for c in range(start, start + cutoffs):
            cutoff = base + pd.Timedelta(weeks=4 * c)
            for k in range(1, 13):
                row = {"unique_id": f"s{i}", "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k),
                       "y": level * (1 + 0.1 * rng.normal()), "scale": 2.0}
                for m, tilt in (("a", 1.0), ("b", 1.04)):
                    f = level * bias(c) * tilt
                    row[m] = row[f"{m}-q50"] = f
                    row[f"{m}-q10"], row[f"{m}-q90"] = 0.9 * f, 1.1 * f
                rows.append(row)
    return pd.DataFrame(rows)


def _known(v: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    return v[v["ds"] <= at].reset_index(drop=True)


def test_every_blend_setting_of_the_config_reaches_the_blend_and_a_standalone_blend_has_the_same_defaults():
    """One description of the blend's settings: a `blend` model made without a config (`create`)
    learns with the config's defaults, and every value set under `blend:` reaches the ensemble."""
    from darkhorse.core.config import BlendConfig, load_config
    from training.backtest import _blend_params
    from training.models import create

    from .conftest import REPO

    standalone = create("blend", members=[{"model": "naive"}]).settings
    assert standalone.model_dump(include=set(BlendConfig.model_fields)) == BlendConfig().model_dump()
    changed = {"grid_step": 0.25, "min_points": 6, "shrinkage": 3.0, "horizon_buckets": [2, 6], "objective": "smape",
               "origin_decay": 0.5, "horizon_weights": "buckets", "intervals": "members", "point_factor": "off", "without_evidence": "equal"}
    assert set(changed) == set(BlendConfig.model_fields)
    assert all(getattr(BlendConfig(), k) != v for k, v in changed.items())
    cfg = load_config(REPO / "darkhorse.yaml")
    named = cfg.model_copy(update={"blend": BlendConfig(**changed)})
    params = {**_blend_params(named, []), "members": [{"model": "naive"}]}
    assert create("blend", **params).settings.model_dump(include=set(changed)) == changed


def test_the_point_factor_is_kept_only_when_it_checked_out_on_the_latest_three_cutoffs():
    from training.blend.point import POINT_CHECKS, POINT_FACTORS, held_points, point_factor
    from training.blend.weights import _learn

    assert POINT_CHECKS == 3

    def factor_of(v, n_check=POINT_CHECKS):
        at = v["cutoff"].max() + pd.Timedelta(weeks=4)
        _, _, held, choice = _learn(_known(v, at), ["a", "b"], grid_step=0.1, min_points=4, shrinkage="auto",
                                    objective="mae", horizon_buckets=[4, 8], fallback_shrinkage=16.0)
        return point_factor(held_points(held, choice, ["a", "b"]), n_check=n_check)

    # every member 30% too high at every cutoff: the factor undoes it, checked on the three latest cutoffs
    f, checks = factor_of(_biased(40, 6, seed=1, bias=lambda c: 1.3))
    assert 0.74 <= f <= 0.80 and f in POINT_FACTORS
    assert len(checks) == 3 and all(c["gain"] > c["se"] > 0 for c in checks)
    # the bias gone at the latest cutoff: the factor learned before it loses there, so none
    f, checks = factor_of(_biased(40, 6, seed=1, bias=lambda c: 1.3 if c < 5 else 1.0))
    assert f == 1.0 and len(checks) == 3 and checks[-1]["gain"] < 0
    # the bias gone at the second latest cutoff only: the second check fails, so none either
    f, checks = factor_of(_biased(40, 6, seed=1, bias=lambda c: 1.0 if c == 4 else 1.3))
    assert f == 1.0 and len(checks) == 2 and checks[0]["gain"] > checks[0]["se"] and checks[1]["gain"] < 0
    # gone at the third latest only: the first of the three checks fails; two checks would have kept it
    v = _biased(40, 6, seed=1, bias=lambda c: 1.0 if c == 3 else 1.3)
    f, checks = factor_of(v)
    assert f == 1.0 and len(checks) == 1 and checks[0]["gain"] < 0
    f, checks = factor_of(v, n_check=2)
    assert f < 1.0 and len(checks) == 2
    # unbiased members: the factor learned is about 1 and gains nothing beyond noise
    f, _ = factor_of(_biased(40, 6, seed=1, bias=lambda c: 1.0))
    assert f == 1.0
    # too few held-out cutoffs to check three times
    f, checks = factor_of(_biased(40, 4, seed=1, bias=lambda c: 1.3))
    assert f == 1.0 and checks == []


def test_the_blend_scales_its_point_forecast_and_keeps_its_quantiles():
    from benchmarks.accuracy.replay import Stored
    from training.blend.model import Blend

    v = _biased(40, 6, seed=2, bias=lambda c: 1.3)
    future = _biased(40, 1, seed=3, bias=lambda c: 1.3, start=7)
    v = _known(v, future["cutoff"].iloc[0])
    qs = [0.1, 0.5, 0.9]
    fitted = {m: Stored(future[["unique_id", "ds", m, *[f"{m}-q{round(q * 100)}" for q in qs]]], alias=m,
                        cutoff=future["cutoff"].iloc[0], horizon=12) for m in ("a", "b")}
    checked = Blend.from_members(fitted, v, grid_step=0.1)
    off = Blend.from_members(fitted, v, grid_step=0.1, point_factor="off")
    assert off.point_factor_ == 1.0 and 0.74 <= checked.point_factor_ <= 0.80
    a = checked.predict(h=12, quantiles=qs).merge(future[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    b = off.predict(h=12, quantiles=qs).merge(future[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    np.testing.assert_allclose(a["blend"], b["blend"] * checked.point_factor_)
    for q in ("blend-q10", "blend-q50", "blend-q90"):  # the quantiles keep their own calibration
        np.testing.assert_allclose(a[q], b[q])
    # on later weeks with the same bias the scaled point is the closer one
    assert (a["blend"] - a["y"]).abs().mean() < 0.5 * (b["blend"] - b["y"]).abs().mean()
    # the subset blend (the backtest's members-left-out blend) takes the same factor when asked
    keys = ["unique_id", "ds"]
    sub = a.merge(subset_blend(v, future, ["a", "b"], qs, name="x", factor="checked", grid_step=0.1), on=keys)
    np.testing.assert_allclose(sub["x"], sub["blend"])
    plain = b.merge(subset_blend(v, future, ["a", "b"], qs, name="x", grid_step=0.1), on=keys)
    np.testing.assert_allclose(plain["x"], plain["blend"])


def test_a_blend_without_validation_rows_serves_the_members_median():
    """No earlier origin (a short panel's first window): the blend and the subset blend take each
    row's median of the members, point and quantiles, so one wild member cannot drag them."""
    from benchmarks.accuracy.replay import Stored
    from training.blend.model import Blend
    from training.blend.weights import MEDIAN

    qs = [0.1, 0.5, 0.9]
    future = _validation(10, 1, lambda i, c, k, r: (r.normal(0, 1), r.normal(0, 1)), seed=5)
    future["c"] = future["y"] * (1 + 50 * (future["unique_id"] == "s3"))  # one series forecast 51x too high
    for m in ("a", "b", "c"):
        future[f"{m}-q10"], future[f"{m}-q50"], future[f"{m}-q90"] = future[m] - 2, future[m], future[m] + 2
    cutoff = future["cutoff"].iloc[0]
    fitted = {m: Stored(future[["unique_id", "ds", m, *[f"{m}-q{round(q * 100)}" for q in qs]]], alias=m,
                        cutoff=cutoff, horizon=12) for m in ("a", "b", "c")}
    empty = future.iloc[:0]
    blend = Blend.from_members(fitted, empty, grid_step=0.1)
    assert blend.choice_ == MEDIAN and blend.intervals_ == "members"  # what it serves: no calibration without rows
    out = blend.predict(h=12, quantiles=qs).merge(future, on=["unique_id", "ds"])
    np.testing.assert_allclose(out["blend"], np.nanmedian(out[["a", "b", "c"]].to_numpy(), axis=1))
    np.testing.assert_allclose(out["blend-q90"], np.nanmedian(out[["a-q90", "b-q90", "c-q90"]].to_numpy(), axis=1))
    wild = out["unique_id"] == "s3"
    assert (out.loc[wild, "blend"] < 2 * out.loc[wild, "y"]).all()  # equal weights would put it ~17x too high
    sub = subset_blend(empty, future, ["a", "b", "c"], qs, name="x", grid_step=0.1).merge(out, on=["unique_id", "ds"])
    np.testing.assert_allclose(sub["x"], sub["blend"])
    gaps = future.assign(b=np.where(future["unique_id"] == "s0", np.nan, future["b"]))  # b misses a series
    sub = subset_blend(empty, gaps, ["a", "b", "c"], qs, name="x", grid_step=0.1)
    np.testing.assert_allclose(sub["x"], np.nanmedian(gaps[["a", "b", "c"]].to_numpy(), axis=1))
    mean = subset_blend(empty, future, ["a", "b", "c"], qs, name="x", grid_step=0.1, without_evidence="equal")
    np.testing.assert_allclose(mean["x"], future[["a", "b", "c"]].mean(axis=1))  # the hot sellers' growth blend
    # one validation row is evidence: weights again
    assert Blend.from_members(fitted, future.iloc[12:13], grid_step=0.1).choice_ != MEDIAN


def test_the_replay_without_evidence_builds_each_origin_s_blend_from_the_members_alone():
    """`replay --without-evidence`: every evaluation origin's blend as a short panel's first
    window builds it (the members' median, or their mean with `without_evidence: equal`), while
    the plain replay learns weights from the earlier origins."""
    from benchmarks.accuracy.replay import replay_panel

    qs = [0.1, 0.5, 0.9]
    rng = np.random.default_rng(7)
    weeks = pd.date_range("2024-01-01", periods=40, freq="7D")
    history = pd.DataFrame([(f"s{i}", d, float(rng.poisson(20))) for i in range(12) for d in weeks],
                           columns=["unique_id", "ds", "y"])
    actual = history.set_index(["unique_id", "ds"])["y"]
    rows = []
    for j, cutoff in enumerate(weeks[[12, 16, 20, 24]]):
        for k in range(1, 13):
            for i in range(12):
                y = float(actual[f"s{i}", cutoff + pd.Timedelta(weeks=k)])
                f = {"a": y + rng.normal(0, 1), "b": y + rng.normal(0, 6), "c": y * (1 + 9 * (i == 0)) + rng.normal(0, 3)}
                f = {m: max(v, 0.0) for m, v in f.items()}  # as every member serves them
                row = {"unique_id": f"s{i}", "ds": cutoff + pd.Timedelta(weeks=k), "cutoff": cutoff,
                       "window": "eval" if j >= 2 else "warmup", "y": y}
                for m, v in f.items():
                    row[m], row[f"{m}-q10"], row[f"{m}-q50"], row[f"{m}-q90"] = v, v - 3, v, v + 3
                rows.append(row)
    fc = pd.DataFrame(rows)
    out = {}
    for how, evidence in (("median", True), ("median", False), ("equal", False)):
        r, _ = replay_panel(fc, history, ["a", "b", "c"], {"grid_step": 0.1, "without_evidence": how}, qs, 12,
                            evidence=evidence)
        out[how, evidence] = r[r["window"] == "eval"].reset_index(drop=True)
    alone = out["median", False]
    np.testing.assert_allclose(alone["blend"], alone[["a", "b", "c"]].median(axis=1))
    np.testing.assert_allclose(out["equal", False]["blend"], alone[["a", "b", "c"]].mean(axis=1))
    learned = out["median", True]
    assert (learned["blend"] - learned["y"]).abs().mean() < (alone["blend"] - alone["y"]).abs().mean()
