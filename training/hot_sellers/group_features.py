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

from darkhorse.core.schema import DS, ID, WEEK, Y
from training.groups import informative
from training.hot_sellers.features import momentum_ratio, seasonal_features

PREFIX = "grp_"
_FROM_SEASON = ("ly_growth", "seasonal_growth", "yoy_4", "yoy_13")


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
    """Every week from each group's first to its last (a week none of its series held: 0). Only
    those weeks are made: a grouping with many short-lived keys (a category per product launch)
    does not build every key x every week of the panel."""
    spans = sums.groupby("_key", sort=True)[DS].agg(["min", "max"])
    n = ((spans["max"] - spans["min"]) // WEEK).to_numpy(dtype="int64") + 1
    first_row = np.repeat(np.cumsum(n) - n, n)
    offset = np.arange(int(n.sum()), dtype="int64") - first_row
    first = spans["min"].to_numpy()
    weeks = (np.repeat(first, n) + offset * WEEK.to_timedelta64()).astype(first.dtype)
    at = pd.MultiIndex.from_arrays([np.repeat(spans.index.to_numpy(), n), weeks], names=["_key", DS])
    return sums.set_index(["_key", DS])[Y].reindex(at, fill_value=0.0).reset_index()
