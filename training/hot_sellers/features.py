"""Hot-seller inputs computed from the history and from forecasts: the growth scores and the
classifier's seasonal and forecast-derived features.

All growth figures use the label's formula (`fct_item_week_labels`): a weekly mean over the
coming `horizon` weeks / max(sum of the past `lookback` weeks / lookback, floor).

Per row of a history frame (week `t`, weeks `<= t` only; the frame is sorted by id, ds, dense):

* `past_mean`: units of weeks t-lookback+1..t / lookback (the label's denominator);
* `ly_future_mean`: mean units of weeks t+1-season..t+horizon-season (what the coming horizon
  did a season earlier; NaN until the series holds `season` weeks, or when horizon > season);
* `ly_growth`: last season's growth over the coming horizon, the label's formula a season
  earlier: `ly_future_mean` / max(`past_mean` a season earlier, floor);
* `seasonal_growth`: growth read from a seasonal-naive forecast, `ly_future_mean` /
  max(`past_mean`, floor); a series shorter than a season falls back to the naive forecast
  (this week's units), as the `seasonal_naive` model does;
* `yoy_4`, `yoy_13`: log ratio of the last 4 / 13 weeks' mean to the same weeks a season earlier;
* `woy`: ISO week of year.

Per item at a forecast origin (`forecast_features`), from the forecasts made at that origin:
growth read from every point forecast (`fc_growth_<model>`), the blend's interval width
(highest minus lowest quantile over the median, horizon means) and the members' disagreement
(standard deviation of their horizon means over their mean).

Per row of a history frame, from the customers' purchase lines (`customer_signals`; only where
the panel has order lines with a customer id, `customer_purchases.parquet` of the marts; absent
otherwise), over the lookback window W = weeks t-lookback+1..t of lines known at the origin:

* `cust_buyers`: distinct customers who bought the item in W;
* `cust_buyers_growth`: log(1 + `cust_buyers`) minus the same a window earlier;
* `cust_new_share`: share of them whose first purchase from the shop (any item) is in W;
* `cust_repeat_rate`: share of them who had bought the item before W;
* `cust_buyers_to_date`: distinct customers of the item up to week t.
The shares are missing where nobody bought the item in W.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y
from training.lags import tail_stat

SEASONAL = ("past_mean", "ly_future_mean", "ly_growth", "seasonal_growth", "yoy_4", "yoy_13", "woy")
KEYS = {ID, DS, CUTOFF, Y, "window"}
CUSTOMER_SIGNALS = ("cust_buyers", "cust_buyers_growth", "cust_new_share", "cust_repeat_rate", "cust_buyers_to_date")
CUSTOMER_LINES = "customer_purchases"  # the mart of purchase lines (dbt fct_customer_purchases)


def momentum(train: pd.DataFrame, *, recent: int = 4, before: int = 12, floor: float = 1.0) -> pd.Series:
    """Mean units of the last `recent` weeks over the mean of the `before` weeks before them."""
    last = tail_stat(train, recent)
    prev = tail_stat(train, before, skip=recent)
    return (last / np.maximum(prev.fillna(0.0), floor)).rename("score")


def growth_denominator(train: pd.DataFrame, lookback: int) -> pd.Series:
    """Per item: the label's denominator before the floor, the mean of the last `lookback` weeks."""
    return tail_stat(train, lookback, how="sum") / lookback


def growth_of(forecast: pd.DataFrame, column: str, past: pd.Series, *, floor: float) -> pd.Series:
    """The label's growth formula applied to the `column` forecast of each item of `forecast`:
    its mean over the horizon / max(`past`, the item's `growth_denominator`, floor)."""
    future = forecast.groupby(ID, sort=True)[column].mean()
    return (future / np.maximum(past.reindex(future.index).fillna(0.0), floor)).rename("score")


def forecast_growth(
    train: pd.DataFrame, forecast: pd.DataFrame, column: str, *, lookback: int, floor: float
) -> pd.Series:
    """The label's growth formula applied to the `column` forecast of every item."""
    return growth_of(forecast, column, growth_denominator(train, lookback), floor=floor)


def momentum_ratio(df: pd.DataFrame, *, recent: int = 4, before: int = 12, floor: float = 1.0) -> np.ndarray:
    """`momentum` at every row of `df` (sorted by id and week, dense): the mean of the `recent`
    weeks up to the row's over the mean of the `before` weeks before them (floored; NaN until the
    series holds `recent` weeks)."""
    ids, y = df[ID], df[Y].astype("float64")
    last = _rolling(y, ids, recent, "mean", recent)
    prev = pd.Series(_rolling(y, ids, before, "mean", 1), index=df.index).groupby(ids, sort=False).shift(recent)
    return last / np.maximum(prev.fillna(0.0).to_numpy(), floor)


def _rolling(y: pd.Series, ids: pd.Series, window: int, how: str, min_periods: int) -> np.ndarray:
    roll = y.groupby(ids, sort=False).rolling(window, min_periods=min_periods)
    return getattr(roll, how)().to_numpy()


def first_seasoned_week(first_week: pd.Timestamp, season: int) -> pd.Timestamp:
    """The first origin whose last season's coming weeks are in a panel starting at `first_week`
    (its history holds a season: `seasonal_features` reads last season's growth from the weeks
    after the origin less `season`)."""
    return pd.Timestamp(first_week) + WEEK * (season - 1)


def seasonal_features(
    df: pd.DataFrame, *, lookback: int, horizon: int, floor: float, season: int = 52
) -> pd.DataFrame:
    """The columns of `SEASONAL` for every row of `df` (same index and order)."""
    ids, y = df[ID], df[Y].astype("float64")

    def shift(a: np.ndarray, k: int) -> np.ndarray:
        return pd.Series(a, index=df.index).groupby(ids, sort=False).shift(k).to_numpy()

    past_mean = _rolling(y, ids, lookback, "sum", 1) / lookback
    if horizon <= season:
        ly_future = shift(_rolling(y, ids, horizon, "mean", horizon), season - horizon)
    else:
        ly_future = np.full(len(df), np.nan)
    ly_past = shift(past_mean, season)
    out = {
        "past_mean": past_mean,
        "ly_future_mean": ly_future,
        "ly_growth": ly_future / np.maximum(np.nan_to_num(ly_past, nan=0.0), floor),
        "seasonal_growth": np.where(np.isnan(ly_future), y.to_numpy(), ly_future) / np.maximum(past_mean, floor),
    }
    out["ly_growth"][np.isnan(ly_past) | np.isnan(ly_future)] = np.nan
    for w in (4, 13):
        now = _rolling(y, ids, w, "mean", w)
        out[f"yoy_{w}"] = np.log1p(now) - np.log1p(shift(now, season))
    out["woy"] = df[DS].dt.isocalendar().week.to_numpy().astype("float64")
    return pd.DataFrame(out, index=df.index)


def point_columns(forecast: pd.DataFrame) -> list[str]:
    """The point-forecast columns of a forecast frame (quantile columns are `<model>-q..`)."""
    return [c for c in forecast.columns if c not in KEYS and "-" not in c]


def forecast_features(
    forecasts: pd.DataFrame, past_mean: pd.DataFrame, *, models: list[str], floor: float,
    interval_model: str, members: list[str] | None = None,
) -> pd.DataFrame:
    """One row per (item, origin): `unique_id, ds` (the origin) + the forecast-derived features.

    `forecasts`: forecasts made at each origin (`unique_id, cutoff, ds` + model columns; realized
    values, if present, are never read); `past_mean`: `unique_id, ds, past_mean` at the origins;
    `models`: the point columns read (the first is the blend or the growth model); `members`:
    those whose spread is the disagreement (default: every model but the first)."""
    by = [ID, CUTOFF]
    means = forecasts.groupby(by, sort=True)[models].mean()
    base = past_mean.rename(columns={DS: CUTOFF}).set_index(by)["past_mean"]
    denom = np.maximum(base.reindex(means.index).fillna(0.0).to_numpy(), floor)
    out = pd.DataFrame(index=means.index)
    for m in models:
        out[f"fc_growth_{m}"] = means[m].to_numpy() / denom
    qcols = sorted(
        (c for c in forecasts.columns if c.startswith(f"{interval_model}-q")), key=lambda c: int(c.split("-q")[1])
    )
    if len(qcols) >= 2:
        q = forecasts.groupby(by, sort=True)[[qcols[0], qcols[-1], interval_model]].mean().reindex(means.index)
        mid = f"{interval_model}-q50" if f"{interval_model}-q50" in forecasts.columns else interval_model
        centre = forecasts.groupby(by, sort=True)[mid].mean().reindex(means.index)
        out["fc_interval_width"] = (q[qcols[-1]] - q[qcols[0]]).to_numpy() / np.maximum(centre.to_numpy(), floor)
    members = models[1:] if members is None else members
    if len(members) >= 2:
        m = means[members].to_numpy()
        out["fc_disagreement"] = m.std(axis=1) / np.maximum(m.mean(axis=1), floor)
    return out.reset_index().rename(columns={CUTOFF: DS})


def read_customer_lines(marts_dir: str | Path | None) -> pd.DataFrame | None:
    """`customer_id, item_id, week_start, available_at` of every purchase line of a known
    customer; None where the marts hold no such line (reviews-only or region-less panels)."""
    if marts_dir is None:
        return None
    path = Path(marts_dir) / f"{CUSTOMER_LINES}.parquet"
    if not path.is_file():
        return None
    stat = path.stat()
    lines = _read_lines(str(path), (stat.st_mtime_ns, stat.st_size))
    return lines if len(lines) else None


@lru_cache(maxsize=2)
def _read_lines(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    """The mart's lines, read once per version of the file (`stamp`: mtime, size): every origin
    of a backtest and the final fit read the same published file (callers do not modify it)."""
    return pd.read_parquet(path, columns=["customer_id", "item_id", "week_start", "available_at"])


def customer_signals(
    spine: pd.DataFrame, lines: pd.DataFrame, *, cutoff: pd.Timestamp, lookback: int
) -> pd.DataFrame:
    """The columns of `CUSTOMER_SIGNALS` for every row of `spine` (`unique_id, ds`, weekly; same
    index and order), from the `lines` known at the close of week `cutoff`."""
    close = pd.Timestamp(cutoff + WEEK, tz="UTC")
    known = lines[pd.to_datetime(lines["available_at"], utc=True) <= close]
    bought = pd.DataFrame({
        ID: known["item_id"].astype(str).to_numpy(),
        "customer": known["customer_id"].astype(str).to_numpy(),
        "week": pd.to_datetime(known["week_start"]).dt.tz_localize(None).astype("datetime64[ns]").to_numpy(),
    }).drop_duplicates()
    window = pd.Timedelta(weeks=lookback)
    shop_first = bought.groupby("customer")["week"].min().rename("shop_first")
    item_first = bought.groupby([ID, "customer"])["week"].min().rename("item_first")
    # a purchase in week w counts in the windows ending at w .. w + lookback - 1
    spread = pd.concat([bought.assign(**{DS: bought["week"] + k * WEEK}) for k in range(lookback)])
    spread = spread.drop_duplicates([ID, "customer", DS]).join(shop_first, on="customer").join(item_first, on=[ID, "customer"])
    start = spread[DS] - window  # the week before the window
    spread["new"] = spread["shop_first"] > start
    spread["repeat"] = spread["item_first"] <= start
    agg = spread.groupby([ID, DS]).agg(buyers=("customer", "size"), new=("new", "sum"), repeat=("repeat", "sum"))
    keys = pd.MultiIndex.from_frame(spine[[ID, DS]].astype({ID: str}))
    now = agg.reindex(keys)
    before = agg["buyers"].reset_index()  # each window's buyers, read a window later
    before = before.assign(**{DS: before[DS] + window}).set_index([ID, DS])["buyers"]
    buyers = now["buyers"].fillna(0.0).to_numpy()
    prev = before.reindex(keys).fillna(0.0).to_numpy()
    firsts = item_first.reset_index().groupby([ID, "item_first"]).size().groupby(level=0).cumsum()
    firsts = firsts.rename("to_date").reset_index().rename(columns={"item_first": DS}).sort_values(DS)
    order = spine[[ID, DS]].astype({ID: str}).assign(_row=np.arange(len(spine))).sort_values(DS)
    to_date = pd.merge_asof(order, firsts, on=DS, by=ID).sort_values("_row")["to_date"].fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "cust_buyers": buyers,
            "cust_buyers_growth": np.log1p(buyers) - np.log1p(prev),
            "cust_new_share": now["new"].to_numpy(dtype="float64") / buyers,
            "cust_repeat_rate": now["repeat"].to_numpy(dtype="float64") / buyers,
            "cust_buyers_to_date": to_date.to_numpy(dtype="float64"),
        }
    return pd.DataFrame(out, index=spine.index)


def with_customer_signals(
    feats: pd.DataFrame, marts_dir: str | Path | None, *, cutoff: pd.Timestamp, lookback: int
) -> pd.DataFrame:
    """`feats` (`unique_id, ds` + features) with `CUSTOMER_SIGNALS` joined where the marts hold
    customer purchase lines of the panel's items; unchanged otherwise (a panel read from elsewhere
    than these marts shares no item with them)."""
    lines = read_customer_lines(marts_dir)
    if lines is None or not lines["item_id"].astype(str).isin(feats[ID].astype(str)).any():
        return feats
    return pd.concat([feats, customer_signals(feats[[ID, DS]], lines, cutoff=cutoff, lookback=lookback)], axis=1)
