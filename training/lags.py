"""Features computed from an item's own past (lags, rolling windows, calendar).

Every feature of the row at week `t` uses weeks `<= t` only, so a row is what was known at the
close of week `t`. Direct multi-horizon rows add the step `k` and the target week's calendar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y

WINDOWS = (4, 12, 26)


def _log(x: np.ndarray | pd.Series) -> np.ndarray:
    return np.log1p(np.clip(np.asarray(x, dtype="float64"), 0.0, None))


def past_features(df: pd.DataFrame, *, n_lags: int = 8, covariates: list[str] | None = None) -> pd.DataFrame:
    """One feature row per input row (same order); `df` is sorted by unique_id, ds and dense."""
    g = df.groupby(ID, sort=False)[Y]
    out = {}
    ly = pd.Series(_log(df[Y]), index=df.index)
    lg = ly.groupby(df[ID], sort=False)
    for i in range(n_lags):
        out[f"lag_{i}"] = lg.shift(i).to_numpy()
    for w in WINDOWS:
        roll = g.rolling(w, min_periods=1)
        out[f"mean_{w}"] = _log(roll.mean().to_numpy())
        out[f"max_{w}"] = _log(roll.max().to_numpy())
        out[f"zero_share_{w}"] = (
            (df[Y] == 0).astype("float64").groupby(df[ID], sort=False).rolling(w, min_periods=1).mean().to_numpy()
        )
    out["std_12"] = lg.rolling(12, min_periods=2).std().to_numpy()
    out["trend_4_12"] = out["mean_4"] - out["mean_12"]
    out["trend_12_26"] = out["mean_12"] - out["mean_26"]
    out["history_weeks"] = g.cumcount().to_numpy().astype("float64")
    nonzero = (df[Y] > 0).groupby(df[ID], sort=False).cumsum().to_numpy()
    out["nonzero_weeks"] = nonzero.astype("float64")
    # weeks since the last non-zero week (capped at the history length)
    pos = g.cumcount().to_numpy()
    last_nz = pd.Series(np.where(df[Y].to_numpy() > 0, pos, np.nan), index=df.index)
    last_nz = last_nz.groupby(df[ID], sort=False).ffill().to_numpy()
    out["weeks_since_sale"] = np.where(np.isnan(last_nz), pos + 1, pos - last_nz)
    woy = df[DS].dt.isocalendar().week.to_numpy().astype("float64")
    out["woy_sin"] = np.sin(2 * np.pi * woy / 52.18)
    out["woy_cos"] = np.cos(2 * np.pi * woy / 52.18)
    feats = pd.DataFrame(out, index=df.index)
    for c in covariates or []:
        if c in df.columns and c not in feats.columns:
            v = df[c].to_numpy(dtype="float64")
            feats[f"cov_{c}"] = _log(v) if np.nanmin(v, initial=0.0) >= 0 else v
    return feats


def tail_stat(df: pd.DataFrame, n: int, *, skip: int = 0, how: str = "mean") -> pd.Series:
    """Per series (sorted by id), `how` of y over its last `n` weeks after skipping the last `skip`.
    A series with no week in that range gets NaN (mean) or 0 (sum)."""
    from_end = df.groupby(ID, sort=True).cumcount(ascending=False)
    inside = (from_end >= skip) & (from_end < skip + n)
    ids = pd.Index(df[ID].unique()).sort_values()
    return df.loc[inside].groupby(ID, sort=True)[Y].agg(how).reindex(ids, fill_value=0.0 if how == "sum" else np.nan)


def add_step(feats: pd.DataFrame, ds: pd.Series, k: np.ndarray | int) -> pd.DataFrame:
    """Direct rows: the step k and the calendar of the target week."""
    out = feats.copy()
    k = np.broadcast_to(np.asarray(k, dtype="int64"), (len(out),))
    target = pd.to_datetime(ds.to_numpy()) + pd.to_timedelta(k * 7, unit="D")
    woy = pd.DatetimeIndex(target).isocalendar().week.to_numpy().astype("float64")
    out["step"] = k.astype("float64")
    out["target_woy_sin"] = np.sin(2 * np.pi * woy / 52.18)
    out["target_woy_cos"] = np.cos(2 * np.pi * woy / 52.18)
    out["target_woy"] = woy
    return out


def direct_pairs(df: pd.DataFrame, h: int, *, min_origin: pd.Timestamp | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, step, target_row) for every origin row with a known value `step` weeks later."""
    pos = df.groupby(ID, sort=False).cumcount().to_numpy()
    length = df.groupby(ID, sort=False)[Y].transform("size").to_numpy()
    rows, steps = [], []
    ok_origin = np.ones(len(df), bool) if min_origin is None else (df[DS] >= min_origin).to_numpy()
    for k in range(1, h + 1):
        r = np.flatnonzero((pos + k < length) & ok_origin)
        rows.append(r)
        steps.append(np.full(len(r), k))
    rows_a = np.concatenate(rows)
    steps_a = np.concatenate(steps)
    return rows_a, steps_a, rows_a + steps_a
