"""Past features (`training.lags`): computed once for a panel, the same for every prefix."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.lags import PastFeatures, past_features


def _ragged(n_series: int = 6, n_weeks: int = 40, seed: int = 0) -> pd.DataFrame:
    """Dense series that start on different weeks, sorted by id and week, with zeros, bursts and
    one covariate."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-04")
    parts = []
    for i in range(n_series):
        first = 3 * i
        ds = pd.date_range(start + pd.Timedelta(weeks=first), periods=n_weeks - first, freq="W-MON")
        y = rng.poisson(2.0, len(ds)) * (rng.random(len(ds)) < 0.6) + 1e-7 * rng.random(len(ds))
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y.astype("float64"),
                                   "reviews": rng.poisson(1.0, len(ds)).astype("float64")}))
    return pd.concat(parts, ignore_index=True)


def test_the_whole_panel_s_features_cut_at_a_cutoff_equal_those_computed_on_the_cut():
    frame = _ragged()
    source = PastFeatures(frame)
    for cutoff in pd.date_range("2021-02-01", periods=8, freq="4W-MON"):
        train = frame[frame["ds"] <= cutoff].reset_index(drop=True)
        for n_lags, cov in ((8, ["reviews"]), (4, None)):
            got = source.until(train, cutoff, n_lags=n_lags, covariates=cov)
            want = past_features(train, n_lags=n_lags, covariates=cov)
            pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(source._done) == 2  # once per setting, not per origin


def test_a_history_that_is_not_the_panel_s_own_prefix_is_computed_from_itself():
    frame = _ragged()
    source = PastFeatures(frame)
    cutoff = pd.Timestamp("2021-06-07")
    # another panel's history up to the cutoff: one series left out, another's values changed
    other = frame[(frame["ds"] <= cutoff) & (frame["unique_id"] != "s2")].reset_index(drop=True)
    other.loc[other["unique_id"] == "s0", "y"] += 5.0
    got = source.until(other, cutoff, n_lags=8, covariates=None)
    pd.testing.assert_frame_equal(got, past_features(other, n_lags=8, covariates=None), check_exact=True)
    # the same rows with other values (units, or a covariate the features read)
    for column, cov in (("y", None), ("reviews", ["reviews"])):
        changed = frame[frame["ds"] <= cutoff].reset_index(drop=True)
        changed.loc[changed["unique_id"] == "s1", column] += 3.0
        got = source.until(changed, cutoff, n_lags=8, covariates=cov)
        pd.testing.assert_frame_equal(got, past_features(changed, n_lags=8, covariates=cov), check_exact=True)


def test_a_covariate_that_turns_negative_after_the_cutoff_keeps_the_prefix_s_own_transform():
    # past_features logs a covariate only when none of its values is negative: the whole frame
    # (negative later) and its prefix (never negative) would transform the same weeks differently
    frame = _ragged()
    cutoff = pd.Timestamp("2021-06-07")
    frame.loc[frame["ds"] > cutoff + pd.Timedelta(weeks=4), "reviews"] = -1.0
    train = frame[frame["ds"] <= cutoff].reset_index(drop=True)
    got = PastFeatures(frame).until(train, cutoff, n_lags=8, covariates=["reviews"])
    pd.testing.assert_frame_equal(got, past_features(train, n_lags=8, covariates=["reviews"]), check_exact=True)
