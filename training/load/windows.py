"""Windows over many series at one grain, for the global load models (XGBoost, LSTM).

The series are held right-aligned in one matrix (`series x columns`, NaN before a series'
first interval, the last column every series' last interval), so that an origin is a column
`t` and a forecast step `k` reads column `t + k`. Every window is scaled by its own level: the
mean load of the day up to the origin (the mean of the last week where that day was all zero,
1 where the week was too), the per-window normalisation of the M4 hourly winners: series of
any volume share one model, and a level shift moves the scale, not the shape. A window can
also be measured by its seasonal spread (`seasonal_scale`: the mean absolute difference from
one day to the next over its last days, the scale of MASE), so that a smooth series and a
noisy one of the same level are not the same window to a global model.

The rows of a global model come in three sets, split by the target's column (never by the
origin alone, so no training target lies in the held-out intervals):

* training: targets before the last `holdout` columns;
* calibration: origins inside the held-out columns (the residuals behind the quantiles);
* validation: the origin `h` columns before the end, steps 1..h: each series' last `h`
  intervals forecast by a model that never saw them (what the blend learns its weights on).
"""

from __future__ import annotations

import numpy as np


class Windows:
    """The right-aligned matrix of `series` and the levels at any (row, origin column)."""

    def __init__(self, series: list[np.ndarray], *, day: int) -> None:
        self.lengths = np.array([len(y) for y in series], dtype=np.int64)
        self.width = int(self.lengths.max())
        self.day = int(day)
        mat = np.full((len(series), self.width), np.nan)
        for i, y in enumerate(series):
            mat[i, self.width - len(y):] = y
        self.mat = mat
        self.first = self.width - self.lengths  # each series' first known column
        filled = np.nan_to_num(mat)
        self._csum = np.concatenate([np.zeros((len(series), 1)), np.cumsum(filled, axis=1)], axis=1)
        self._ccnt = np.concatenate(
            [np.zeros((len(series), 1)), np.cumsum(~np.isnan(mat), axis=1)], axis=1
        )
        # |y_t - y_{t-day}| where both are known, summed and counted up to each column
        diff = np.full(mat.shape, np.nan)
        if self.width > self.day:
            diff[:, self.day:] = np.abs(mat[:, self.day:] - mat[:, : -self.day])
        zeros = np.zeros((len(series), 1))
        self._dsum = np.concatenate([zeros, np.cumsum(np.nan_to_num(diff), axis=1)], axis=1)
        self._dcnt = np.concatenate([zeros, np.cumsum(~np.isnan(diff), axis=1)], axis=1)

    def window_mean(self, rows: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
        """Mean of the known values in columns t-n+1..t (NaN where none is known)."""
        lo = np.clip(t - n + 1, 0, None)
        s = self._csum[rows, t + 1] - self._csum[rows, lo]
        c = self._ccnt[rows, t + 1] - self._ccnt[rows, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.where(c > 0, c, 1), np.nan)

    def level(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The scale of the window ending at column t: its last day's mean, else its last
        week's, else 1 (a series that was zero for a week is scaled by one request)."""
        lvl = self.window_mean(rows, t, self.day)
        week = self.window_mean(rows, t, 7 * self.day)
        lvl = np.where(np.nan_to_num(lvl) > 0, lvl, week)
        return np.where(np.nan_to_num(lvl) > 0, lvl, 1.0)

    def seasonal_scale(self, rows: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
        """The mean |y_s - y_{s-day}| over columns t-n+1..t (the window's MASE scale), floored
        at a thousandth of its level; the level where no day-apart pair is known or the
        window repeats itself exactly."""
        lo = np.clip(t - n + 1, 0, None)
        s = self._dsum[rows, t + 1] - self._dsum[rows, lo]
        c = self._dcnt[rows, t + 1] - self._dcnt[rows, lo]
        level = self.level(rows, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.where(c > 0, s / np.where(c > 0, c, 1), 0.0)
        return np.where(spread > 0, np.maximum(spread, 1e-3 * level), level)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at (row, column), NaN for columns before the matrix."""
        ok = cols >= 0
        out = np.full(np.broadcast(rows, cols).shape, np.nan)
        r = np.broadcast_to(rows, out.shape)
        c = np.broadcast_to(cols, out.shape)
        out[ok] = self.mat[r[ok], c[ok]]
        return out

    def block(self, rows: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
        """(len(rows), n): columns t-n+1..t of each row, oldest first (NaN before a series)."""
        cols = t[:, None] + np.arange(-n + 1, 1)[None, :]
        return self.at(rows[:, None], cols)


def training_origins(win: Windows, *, cut: int, horizon: int, min_history: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, origin columns) with at least `min_history` known values and a first target
    (t + 1) before column `cut`."""
    rows, ts = [], []
    for i in range(len(win.lengths)):
        lo = int(win.first[i]) + min_history - 1
        hi = cut - 2  # t + 1 <= cut - 1
        if hi >= lo:
            t = np.arange(lo, hi + 1)
            rows.append(np.full(len(t), i))
            ts.append(t)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(ts)


def sample_triples(
    rows: np.ndarray, t: np.ndarray, *, cut: int, horizon: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to `n` (row, origin, step) triples with the target t + k before column `cut`:
    every triple when they are fewer, else a uniform sample of them."""
    kmax = np.minimum(horizon, cut - 1 - t)
    total = int(kmax.sum())
    if total <= n:
        r = np.repeat(rows, kmax)
        tt = np.repeat(t, kmax)
        starts = np.repeat(np.cumsum(kmax) - kmax, kmax)
        k = np.arange(total) - starts + 1
        return r, tt, k
    pick = np.sort(rng.choice(total, size=n, replace=False))
    owner = np.searchsorted(np.cumsum(kmax), pick, side="right")
    before = np.cumsum(kmax) - kmax
    return rows[owner], t[owner], pick - before[owner] + 1
