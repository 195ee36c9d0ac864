"""The hot-seller label of panels that are not built through dbt.

Same definition as the dbt mart `fct_item_week_labels` (dbt_project/models/marts), on a dense
weekly frame (`unique_id, ds, y`, one row per item per week from its first week to the panel's
last week):

* past = units of the `lookback` weeks ending at `ds` (the current week included; fewer at an
  item's start); eligible when past >= `min_past_activity`;
* future = units of the `horizon` weeks after `ds`, known only when all of them exist;
* growth = (future / horizon) / max(past / lookback, growth_floor);
* hot seller: among the eligible items of the week with a known future, the
  first ceil((1 - quantile) * n) in the order larger growth, larger future units, larger past
  units, item id ascending (exactly that many, whatever the ties) with growth > 0;
  false for other known rows; no label where the future is unknown;
* the label becomes available when the horizon's last week has closed:
  `label_available_at = ds + 7 (horizon + 1) days` (UTC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkhorse.core.config import PanelConfig
from darkhorse.core.schema import DS, ID, Y

LABEL_COLUMNS = [ID, DS, "label", "growth_score", "label_available_at"]


def hot_seller_labels(frame: pd.DataFrame, panel: PanelConfig) -> pd.DataFrame:
    """`unique_id, ds, label, growth_score, label_available_at` for every row whose future is known."""
    lookback, horizon = panel.lookback_weeks, panel.horizon_weeks
    f = frame[[ID, DS, Y]].sort_values([ID, DS], kind="stable").reset_index(drop=True)
    g = f.groupby(ID, sort=False)
    cs = g[Y].cumsum()
    past = cs - cs.groupby(f[ID], sort=False).shift(lookback).fillna(0.0)
    future = cs.groupby(f[ID], sort=False).shift(-horizon) - cs  # NaN when fewer than `horizon` weeks follow
    growth = (future / horizon) / np.maximum(past / lookback, panel.growth_floor)
    known = future.notna()
    eligible = past >= panel.min_past_activity
    cand = known & eligible
    out = pd.DataFrame({ID: f[ID], DS: f[DS], "growth_score": growth, "cand": cand, "future": future, "past": past})
    order = out[cand].sort_values(
        [DS, "growth_score", "future", "past", ID], ascending=[True, False, False, False, True], kind="stable"
    )
    out["rank"] = (order.groupby(DS).cumcount() + 1).reindex(out.index)
    n = out[cand].groupby(DS).size()
    cut = np.ceil(np.round((1 - panel.hot_seller_quantile) * n, 9))
    out["cut"] = out[DS].map(cut).fillna(0.0)
    hot = cand & (out["growth_score"] > 0) & (out["rank"] <= out["cut"])
    out["label"] = hot.astype("float64")
    out = out[known].reset_index(drop=True)
    out["label_available_at"] = (out[DS] + pd.Timedelta(days=7 * (horizon + 1))).dt.tz_localize("UTC")
    return out[LABEL_COLUMNS]


__all__ = ["LABEL_COLUMNS", "hot_seller_labels"]
