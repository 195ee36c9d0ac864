"""Groups of series (training.groups): what they are made of, what their features read, and the
global XGBoost member reading them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.config import ITEM_ID_SEPARATOR
from darkhorse.core.schema import DS, ID, Y
from synthetic.store_sales import SEPARATOR, store_department_sales
from tests.conftest import write_config
from training.groups import GroupSums, groups_from_ids, merge_groups
from training.history import _groups
from training.lags import SEASON, WindowSums, series_level
from training.metrics import naive_scale
from training.models.base import series_matrix
from training.models.xgb import XGBoostGlobal


def test_composite_ids_split_into_named_groupings():
    g = groups_from_ids(["1_7", "1_8", "2_7", "odd"], "_", ["Store", "Dept"])
    assert g.to_dict("list") == {ID: ["1_7", "1_8", "2_7", "odd"], "Store": ["1", "1", "2", None],
                                 "Dept": ["7", "8", "7", None]}
    assert groups_from_ids(["a_b"], "_", ["only"]) is None          # one part is no grouping
    assert groups_from_ids(["a", "b"], "_", ["x", "y"]) is None     # nothing splits
    both = merge_groups(g, pd.DataFrame({ID: ["1_7", "9_9"], "category": ["food", "toys"]}))
    row = both.set_index(ID).loc["9_9"]
    assert row["category"] == "toys" and row[["Store", "Dept"]].isna().all()


def _matrix(frame):
    mat, _, ids = series_matrix(frame)
    return mat, ids


def test_group_features_are_the_groups_sums_and_never_read_past_the_origin():
    frame = store_department_sales(n_stores=3, n_departments=4, weeks=120, seed=1)
    ids = frame[ID].unique()
    groups = groups_from_ids(ids, SEPARATOR, ["store", "department"])
    mat, order = _matrix(frame)
    sums = GroupSums(mat, order, groups)
    assert sums.names == ["store", "department"]
    # brute force for one series and origin: its department's weekly totals
    i = 5
    dept = order[i].split(SEPARATOR)[1]
    members = [j for j, s in enumerate(order) if s.split(SEPARATOR)[1] == dept]
    total = np.nansum(mat[members], axis=0)
    t, k = 100, 3
    level = series_level(WindowSums(mat), np.array([i]), np.array([t]))
    f = sums.features(np.array([i]), np.array([t]), np.array([k]), level)
    ly = t + k - SEASON
    assert f["grp_department_momentum"][0] == pytest.approx(total[t - 3 : t + 1].mean() / total[t - 12 : t + 1].mean())
    assert f["grp_department_season_growth"][0] == pytest.approx(
        total[ly - 1 : ly + 2].mean() / total[t - SEASON - 12 : t - SEASON + 1].mean())
    assert f["grp_department_yoy"][0] == pytest.approx(total[t - 12 : t + 1].mean() / total[t - SEASON - 12 : t - SEASON + 1].mean())
    # weeks after the origin change nothing at it
    later = mat.copy()
    later[:, t + 1 :] = 1e9
    again = GroupSums(later, order, groups).features(np.array([i]), np.array([t]), np.array([k]), level)
    for name, v in f.items():
        np.testing.assert_array_equal(v, again[name], err_msg=name)


def test_a_grouping_of_singletons_or_of_one_group_is_dropped():
    frame = store_department_sales(n_stores=1, n_departments=5, weeks=60, seed=2)
    ids = frame[ID].unique()
    mat, order = _matrix(frame)
    sums = GroupSums(mat, order, groups_from_ids(ids, SEPARATOR, ["store", "department"]))
    assert sums.names == []  # one store; each department alone
    assert sums.features(np.array([0]), np.array([50]), np.array([1]), np.ones(1)) == {}


def test_xgboost_reads_the_groups_and_they_pay_where_groups_share_a_season():
    """A chain whose departments share their season across stores: the group features are in the
    booster, and at one origin its forecast is better with them (MASE on the next 12 weeks)."""
    frame = store_department_sales(n_stores=8, n_departments=12, weeks=130, seed=3)
    groups = groups_from_ids(frame[ID].unique(), SEPARATOR, ["store", "department"])
    last = frame[DS].max()
    cutoff = last - pd.Timedelta(weeks=12)
    train, test = frame[frame[DS] <= cutoff], frame[frame[DS] > cutoff]
    params = {"n_estimators": 150, "max_depth": 4, "n_bags": 1, "seed": 0}
    with_groups = XGBoostGlobal(**params).fit(train, horizon=12, groups=groups)
    without = XGBoostGlobal(**params).fit(train, horizon=12)
    plain = XGBoostGlobal(**params, group_features=False).fit(train, horizon=12, groups=groups)
    assert {f for f in with_groups.feature_names_ if f.startswith("grp_")} >= {
        "grp_store_momentum", "grp_department_season_growth", "grp_department_share"}
    assert not any(f.startswith("grp_") for f in without.feature_names_ + plain.feature_names_)
    scale = naive_scale(train).rename("scale")

    def mase(model):
        fc = model.predict(h=12, quantiles=[0.5]).merge(test, on=[ID, DS])
        err = (fc[model.alias] - fc[Y]).abs().groupby(fc[ID]).mean()
        return float((err / scale.reindex(err.index)).mean())

    assert mase(with_groups) < 0.99 * mase(without)  # 0.551 against 0.564 here


def test_history_groups_come_from_a_composite_sales_id_and_the_category(tmp_path):
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(tmp_path / "s.csv"),
                                   "columns": {"item_id": ["Store", "Dept"], "date": "d", "quantity": "q"}}])
    feats = pd.DataFrame({
        "item_id": ["1_7", "1_7", "2_7", "x"],
        "origin": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-01", "2024-01-01"]),
        "category": [None, "food", "food", "toys"],
    })
    g = _groups(cfg, feats, np.array(["1_7", "2_7", "x"])).set_index(ID)
    assert g.loc["1_7"].tolist() == ["1", "7", "food"]
    assert g.loc["2_7"].tolist() == ["2", "7", "food"]
    assert g.loc["x", "category"] == "toys" and g.loc["x", ["Store", "Dept"]].isna().all()
    assert ITEM_ID_SEPARATOR == "_"
