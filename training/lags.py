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


def logs_covariate(v: np.ndarray) -> bool:
    """Whether `past_features` logs a covariate with these values: only when none is negative."""
    return bool(np.nanmin(np.asarray(v, dtype="float64"), initial=0.0) >= 0)


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
            feats[f"cov_{c}"] = _log(v) if logs_covariate(v) else v
    return feats


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return np.array_equal(x, y, equal_nan=x.dtype.kind == "f" and y.dtype.kind == "f")


class PastFeatures:
    """`past_features` of a whole panel, computed once per setting and served for any origin's
    prefix of it (`until`): every feature of a row reads its series' weeks at or before that row
    only, so the rows of the frame cut at a cutoff are the same computed on the cut or on the
    whole frame. The backtest scores hot sellers at up to nine origins of one panel and computed
    them again at each. A history that is not the frame's own rows up to the cutoff (other rows,
    another order, other values) is computed from itself, and so is one where a covariate's
    transform would differ: `past_features` logs a covariate only when none of its values is
    negative, which the whole frame can decide otherwise than its prefix."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._done: dict[tuple[int, tuple[str, ...]], pd.DataFrame] = {}

    def until(self, train: pd.DataFrame, cutoff: pd.Timestamp, *, n_lags: int, covariates: list[str] | None) -> pd.DataFrame:
        """`past_features(train)` (same index as `train`) for `train` = the frame's rows with ds <= cutoff."""
        keep = (self.frame[DS] <= cutoff).to_numpy()
        covs = [c for c in covariates or [] if c in self.frame.columns]
        read = [ID, DS, Y, *covs]
        if (int(keep.sum()) != len(train) or any(c not in train for c in read)
                or not all(_same(self.frame[c].to_numpy()[keep], train[c].to_numpy()) for c in read)
                or any(logs_covariate(self.frame[c].to_numpy()) != logs_covariate(train[c].to_numpy()) for c in covs)):
            return past_features(train, n_lags=n_lags, covariates=covariates)
        key = (n_lags, tuple(covariates or ()))
        if key not in self._done:
            self._done[key] = past_features(self.frame, n_lags=n_lags, covariates=covariates)
        return self._done[key].loc[keep].set_axis(train.index)


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


# --------------------------------------------------------------------------- series-matrix features
SEASON = 52


class WindowSums:
    """O(1) window means over a right-aligned series matrix (`base.series_matrix`: rows = series,
    NaN before each series' first week)."""

    def __init__(self, mat: np.ndarray) -> None:
        self.mat = mat
        ok = np.isfinite(mat)
        zero = np.zeros((mat.shape[0], 1))
        self.sums = np.concatenate([zero, np.cumsum(np.where(ok, mat, 0.0), axis=1)], axis=1)
        self.counts = np.concatenate([zero, np.cumsum(ok, axis=1)], axis=1)
        self.zeros = np.concatenate([zero, np.cumsum(ok & (mat == 0), axis=1)], axis=1)
        cols = np.broadcast_to(np.arange(mat.shape[1]), mat.shape)
        self.last_sale = np.maximum.accumulate(np.where(mat > 0, cols, -1), axis=1)

    def _bounds(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = self.mat.shape[1]
        return np.clip(a, 0, width), np.clip(b + 1, 0, width)

    def mean(self, rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Mean of the known weeks in columns a..b (inclusive) of `rows`; NaN where none."""
        lo, hi = self._bounds(a, b)
        n = self.counts[rows, hi] - self.counts[rows, lo]
        s = self.sums[rows, hi] - self.sums[rows, lo]
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)

    def zero_share(self, rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo, hi = self._bounds(a, b)
        n = self.counts[rows, hi] - self.counts[rows, lo]
        z = self.zeros[rows, hi] - self.zeros[rows, lo]
        return np.where(n > 0, z / np.maximum(n, 1), np.nan)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ok = (cols >= 0) & (cols < self.mat.shape[1])
        return np.where(ok, self.mat[rows, np.clip(cols, 0, self.mat.shape[1] - 1)], np.nan)


def series_level(w: WindowSums, rows: np.ndarray, t: np.ndarray, *, window: int = 13) -> np.ndarray:
    """Each row's level at origin column `t`: mean of its last `window` known weeks, else of its
    whole past, else 1 (a series that never sold); always > 0, so y / level is a ratio."""
    recent = w.mean(rows, t - window + 1, t)
    whole = w.mean(rows, np.zeros_like(t), t)
    level = np.where(recent > 0, recent, np.where(whole > 0, whole, np.nan))
    return np.where(np.isfinite(level), level, 1.0)


def scaled_features(
    w: WindowSums, rows: np.ndarray, t: np.ndarray, k: np.ndarray, level: np.ndarray, *, n_lags: int = 8
) -> dict[str, np.ndarray]:
    """Features of target week t + k known at origin column t, values divided by `level`:
    recent lags and windows, and the season (what the weeks around t + k did 52 weeks earlier,
    and last year's growth from the same origin)."""
    out: dict[str, np.ndarray] = {}
    lv = level
    for i in range(n_lags):
        out[f"lag_{i}"] = w.at(rows, t - i) / lv
    for n in (4, 8, 13, 26, 52):
        out[f"mean_{n}"] = w.mean(rows, t - n + 1, t) / lv
    for n in (4, 13, 52):
        out[f"zero_share_{n}"] = w.zero_share(rows, t - n + 1, t)
    ly = t + k - SEASON  # the target week, one season back
    out["season_lag"] = w.at(rows, ly) / lv
    out["season_mean_1"] = w.mean(rows, ly - 1, ly + 1) / lv
    out["season_mean_3"] = w.mean(rows, ly - 3, ly + 3) / lv
    out["season2_lag"] = w.at(rows, ly - SEASON) / lv
    # last year's path: the weeks around t + k a season back over the level then
    ly_level = w.mean(rows, t - SEASON - 12, t - SEASON)
    out["season_growth"] = np.where(ly_level > 0, w.mean(rows, ly - 1, ly + 1) / np.where(ly_level > 0, ly_level, 1.0), np.nan)
    out["level_vs_last_year"] = np.where(ly_level > 0, lv / np.where(ly_level > 0, ly_level, 1.0), np.nan)
    out["log_level"] = np.log1p(lv)
    known = w.counts[rows, np.clip(t + 1, 0, w.mat.shape[1])]
    out["history_weeks"] = known.astype("float64")
    last = w.last_sale[rows, t]
    out["weeks_since_sale"] = np.where(last >= 0, t - last, known).astype("float64")
    return out
