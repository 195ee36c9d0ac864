"""The hot-seller classifier's group features (training.hot_sellers.group_features): the groups'
weekly sums, read up to each row's week only, and the classifier reading them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.schema import DS, ID, Y
from synthetic.store_sales import SEPARATOR, store_department_sales
from training import hot_sellers as hs
from training.groups import groups_from_ids, informative
from training.hot_sellers.features import seasonal_features
from training.hot_sellers.group_features import add_group_features

LOOKBACK, HORIZON = 4, 12


def _chain(weeks: int = 120) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = store_department_sales(n_stores=3, n_departments=4, weeks=weeks, seed=2)
    frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    return frame, groups_from_ids(frame[ID].unique(), SEPARATOR, ["store", "department"])


def _features(frame: pd.DataFrame, groups: pd.DataFrame | None) -> pd.DataFrame:
    season = seasonal_features(frame, lookback=LOOKBACK, horizon=HORIZON, floor=1.0)
    return add_group_features(frame[[ID, DS]], frame, season["past_mean"], groups, lookback=LOOKBACK,
                              horizon=HORIZON, floor=1.0)


def test_group_columns_are_the_groups_sums_by_hand():
    frame, groups = _chain()
    out = _features(frame, groups)
    names = [f"grp_{g}_{c}" for g in ("store", "department")
             for c in ("ly_growth", "seasonal_growth", "yoy_4", "yoy_13", "momentum", "share")]
    assert [c for c in out.columns if c.startswith("grp_")] == names
    weeks = np.sort(frame[DS].unique())
    full = frame.groupby(ID)[DS].min() == weeks[0]
    sid = full[full].index[5]  # a series (so its department) from the first week: row t is week t
    dept = sid.split(SEPARATOR)[1]
    members = frame[frame[ID].str.split(SEPARATOR).str[1] == dept]
    total = members.groupby(DS)[Y].sum().reindex(weeks, fill_value=0.0).to_numpy()
    own = frame[frame[ID] == sid][Y].to_numpy()
    t = 100
    row = out[frame[ID] == sid].iloc[t]
    past = total[t - LOOKBACK + 1 : t + 1].sum() / LOOKBACK
    ly_past = total[t - 52 - LOOKBACK + 1 : t - 52 + 1].sum() / LOOKBACK
    ly_future = total[t + 1 - 52 : t + 1 - 52 + HORIZON].mean()
    assert row["grp_department_ly_growth"] == pytest.approx(ly_future / max(ly_past, 1.0))
    assert row["grp_department_seasonal_growth"] == pytest.approx(ly_future / max(past, 1.0))
    assert row["grp_department_yoy_13"] == pytest.approx(
        np.log1p(total[t - 12 : t + 1].mean()) - np.log1p(total[t - 52 - 12 : t - 52 + 1].mean()))
    assert row["grp_department_momentum"] == pytest.approx(total[t - 3 : t + 1].mean() / total[t - 15 : t - 3].mean())
    own_past = own[t - LOOKBACK + 1 : t + 1].sum() / LOOKBACK
    assert row["grp_department_share"] == pytest.approx(np.log((own_past + 1e-6) / (past + 1e-6)))


def test_a_groups_sum_covers_its_own_weeks_only_with_zeros_where_none_of_its_series_sold():
    from training.hot_sellers.group_features import _dense

    weeks = pd.date_range("2021-01-04", periods=400, freq="7D")
    # a long-lived group with gaps, and 300 one- to three-week groups scattered over the panel
    rows = [("long", weeks[t], 1.0 + t) for t in range(0, 400, 3)]
    rng = np.random.default_rng(0)
    spans = {}
    for k in range(300):
        a = int(rng.integers(0, 397))
        b = a + int(rng.integers(0, 3))
        spans[f"k{k:03d}"] = (a, b)
        rows += [(f"k{k:03d}", weeks[a], 5.0), (f"k{k:03d}", weeks[b], 7.0)]
    sums = pd.DataFrame(rows, columns=["_key", DS, Y]).drop_duplicates(["_key", DS])
    out = _dense(sums)
    assert len(out) == 400 + sum(b - a + 1 for a, b in spans.values())
    assert not out.duplicated(["_key", DS]).any()
    long = out[out["_key"] == "long"].set_index(DS)[Y]
    assert long.index.equals(pd.DatetimeIndex(weeks, name=DS))
    assert (long.iloc[::3].to_numpy() == 1.0 + np.arange(0, 400, 3)).all()
    assert (long.drop(long.index[::3]) == 0.0).all()
    for key, (a, b) in spans.items():
        got = out.loc[out["_key"] == key, DS]
        assert (got.min(), got.max(), len(got)) == (weeks[a], weeks[b], b - a + 1)


def test_weeks_after_a_row_change_nothing_in_it():
    frame, groups = _chain()
    cut = frame[DS].unique()[90]
    out = _features(frame, groups)
    planted = frame.copy()
    planted.loc[planted[DS] > cut, Y] = 1e6
    again = _features(planted, groups)
    early = frame[DS] <= cut
    pd.testing.assert_frame_equal(out[early], again[early])
    assert not out[~early]["grp_store_momentum"].equals(again[~early]["grp_store_momentum"])


def test_groupings_that_say_nothing_add_no_column_and_series_without_a_key_have_none():
    frame, groups = _chain(weeks=60)
    ids = pd.Series(frame[ID].unique())
    one = groups.assign(store="all")                          # every series in one store
    alone = groups.assign(department=ids.to_numpy())          # every series its own department
    assert informative(one.drop(columns="department"), ids) == {}
    assert list(informative(alone, ids)) == ["store"]
    assert _features(frame, None).columns.tolist() == [ID, DS]
    partial = groups.copy()
    first = ids.iloc[0]
    partial.loc[partial[ID] == first, "department"] = None
    out = _features(frame, partial)
    assert out.loc[frame[ID] == first, [c for c in out.columns if c.startswith("grp_department_")]].isna().all().all()
    assert out.loc[frame[ID] == first, "grp_store_momentum"].notna().any()


def test_the_classifier_reads_the_groups_where_the_setting_is_on():
    frame, groups = _chain(weeks=110)
    weeks = np.sort(frame[DS].unique())
    cutoff = pd.Timestamp(weeks[-HORIZON - 1])
    g = frame.groupby(ID)[Y]
    past = g.transform(lambda v: v.rolling(LOOKBACK, min_periods=1).sum())
    future = g.transform(lambda v: v[::-1].rolling(HORIZON, min_periods=HORIZON).mean()[::-1].shift(-1))
    labels = pd.DataFrame({ID: frame[ID], DS: frame[DS], "growth_score": future / np.maximum(past / LOOKBACK, 1.0)})
    labels = labels.dropna().copy()
    labels["label"] = (labels.groupby(DS)["growth_score"].rank(ascending=False) <= 3).astype(float)
    labels["label_available_at"] = (labels[DS] + pd.Timedelta(weeks=HORIZON + 1)).dt.tz_localize("UTC")
    train = frame[frame[DS] <= cutoff].reset_index(drop=True)
    fut = frame[(frame[DS] > cutoff) & (frame[DS] <= cutoff + pd.Timedelta(weeks=HORIZON))]
    fc = fut.assign(blend=fut[Y] * 1.1, naive=fut[Y] * 0.9).drop(columns=Y).reset_index(drop=True)
    base = hs.Settings(lookback=LOOKBACK, horizon=HORIZON, floor=1.0,
                       classifier={"n_estimators": 8, "max_depth": 2, "n_jobs": 1, "group_features": True})
    _, clf = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[], settings=base, groups=groups)
    assert {"grp_store_ly_growth", "grp_department_share"} <= set(clf.feature_names_)
    off = dataclasses.replace(base, classifier={**base.classifier, "group_features": False})
    _, plain = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[], settings=off, groups=groups)
    assert not any(c.startswith("grp_") for c in plain.feature_names_)
    _, none = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[], settings=base)
    assert none.feature_names_ == plain.feature_names_
