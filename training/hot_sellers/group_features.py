"""The hot-seller classifier's group features: what the item's groups (training.groups: the parts
of a composite id, the category) did up to each week, read from the groups' weekly sums.

A department's surge is much the same in every store, and an item's season is much the same in
every country; the group's sum shows it with a fraction of one series' noise. Per grouping `g`
and feature row (item, week t), from the group's weeks up to t only (the same point in time as
the row's own lags):

* `grp_<g>_ly_growth`: the group's growth over the coming horizon a season earlier, the label's
  formula on the group's sum (`features.seasonal_features`' `ly_growth`);
* `grp_<g>_seasonal_growth`: growth read from a seasonal-naive forecast of the group's sum;
* `grp_<g>_yoy_4`, `grp_<g>_yoy_13`: log ratio of the group's last 4 / 13 weeks to the same
  weeks a season earlier;
* `grp_<g>_momentum`: the group's last 4 weeks over its 12 weeks before them;
* `grp_<g>_share`: log of the item's lookback mean over its group's.

A series without a key in a grouping has those columns missing (XGBoost learns a direction).
Groupings where every series is alone, or all share one key, say nothing and add no column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y
from training.hot_sellers.features import momentum_ratio, seasonal_features

PREFIX = "grp_"
_FROM_SEASON = ("ly_growth", "seasonal_growth", "yoy_4", "yoy_13")


def informative(groups: pd.DataFrame | None, ids: pd.Series) -> dict[str, pd.Series]:
    """Per grouping that says something about `ids` (at least two groups, one of them with two
    series or more): each series' key (missing: none), indexed by series id."""
    if groups is None:
        return {}
    table = groups.drop_duplicates(ID).set_index(ID)
    table.index = table.index.astype(str)
    uniq = pd.Index(ids.astype(str).unique())
    out: dict[str, pd.Series] = {}
    for name in table.columns:
        keys = table[name].reindex(uniq)
        sizes = keys.dropna().value_counts()
        if len(sizes) >= 2 and sizes.max() >= 2:
            out[str(name)] = keys.astype("string")
    return out


def add_group_features(
    feats: pd.DataFrame, train: pd.DataFrame, past_mean: pd.Series, groups: pd.DataFrame | None, *,
    lookback: int, horizon: int, floor: float, season: int = 52,
) -> pd.DataFrame:
    """`feats` (aligned with `train`: `unique_id, ds, y`, sorted by id and week, dense) with the
    group columns of every informative grouping; unchanged without one. `past_mean`: the item's
    lookback mean per row (`seasonal_features`), the share's numerator."""
    keyed = informative(groups, train[ID])
    if not keyed:
        return feats
    ids = train[ID].astype(str)
    own_mean = past_mean.to_numpy(dtype="float64")
    cols: dict[str, np.ndarray] = {}
    for name, keys in keyed.items():
        key = ids.map(keys)
        sums = (train.assign(_key=key.to_numpy()).dropna(subset=["_key"])
                .groupby(["_key", DS], sort=True)[Y].sum().reset_index())
        sums = _dense(sums)
        frame = sums.rename(columns={"_key": ID})
        season_cols = seasonal_features(frame, lookback=lookback, horizon=horizon, floor=floor, season=season)
        frame = pd.concat([frame, season_cols], axis=1)
        frame["momentum"] = momentum_ratio(frame, floor=floor)
        at = pd.MultiIndex.from_arrays([key.to_numpy(), train[DS].to_numpy()])
        got = frame.set_index([ID, DS]).reindex(at)
        p = f"{PREFIX}{name}_"
        for c in _FROM_SEASON:
            cols[p + c] = got[c].to_numpy(dtype="float64")
        cols[p + "momentum"] = got["momentum"].to_numpy(dtype="float64")
        group_mean = got["past_mean"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.log((own_mean + 1e-6) / (group_mean + 1e-6))
        cols[p + "share"] = np.where(np.isfinite(group_mean), share, np.nan)
    return pd.concat([feats, pd.DataFrame(cols, index=feats.index)], axis=1)


def _dense(sums: pd.DataFrame) -> pd.DataFrame:
    """Every week from each group's first to its last (a week none of its series held: 0)."""
    spans = sums.groupby("_key", sort=True)[DS].agg(["min", "max"])
    grid = pd.concat(
        [pd.DataFrame({"_key": k, DS: pd.date_range(lo, hi, freq="7D")}) for k, (lo, hi) in spans.iterrows()],
        ignore_index=True,
    )
    out = grid.merge(sums, on=["_key", DS], how="left")
    out[Y] = out[Y].fillna(0.0)
    return out
