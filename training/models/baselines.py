"""Baselines a user would otherwise pick: naive, seasonal naive, moving average, statquant.

All are local (one series at a time, vectorized over series) and probabilistic: naive, seasonal
naive and moving average use normal intervals from their own in-sample residuals (the textbook
forms); statquant uses the empirical quantiles of its past multi-step residuals, pooled across
series (scaled by level) where a series has too few of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import Field
from scipy.stats import norm

from training.models.base import ModelSettings, RowwiseForecaster, row_nanquantile, series_matrix


def _row_sigma(resid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row RMS of residuals and whether the row holds at least 2 of them."""
    n = np.sum(np.isfinite(resid), axis=1)
    sq = np.where(np.isfinite(resid), resid**2, 0.0)
    return np.sqrt(sq.sum(axis=1) / np.maximum(n, 1)), n >= 2


def _pooled_sigma(resid: np.ndarray) -> np.ndarray:
    """Per-series RMS of residuals (rows); series with fewer than 2 use the median of others."""
    sigma, ok = _row_sigma(resid)
    fallback = float(np.nanmedian(sigma[ok])) if ok.any() else 1.0
    return np.where(ok, sigma, fallback)


def _sigma_of(residuals: Callable[[np.ndarray | slice], np.ndarray], rows: np.ndarray | slice) -> np.ndarray:
    """`_pooled_sigma` of the series at `rows` only: `residuals(sel)` gives the residual matrix of
    the series `sel`; every series' is computed only where an asked one needs the median of
    the others (a what-if about a few series skips a pass over the catalogue)."""
    sigma, ok = _row_sigma(residuals(rows))
    if ok.all():
        return sigma
    return _pooled_sigma(residuals(slice(None)))[rows]


def _normal_quantiles(point: np.ndarray, sigma: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """point (n, h), sigma (n, h) -> (n, h, q)."""
    z = norm.ppf(np.asarray(quantiles))
    return point[:, :, None] + sigma[:, :, None] * z[None, None, :]


class _MatrixModel(RowwiseForecaster):
    """A baseline on the series matrix: each series' point and interval from its own row, the
    interval's spread pooled over every series where a row has too few residuals."""

    def _fit(self, df: pd.DataFrame) -> None:
        self.y_, self.lengths_, ids = series_matrix(df)
        # the base class orders expected rows by sorted id; series_matrix keeps frame order (sorted)
        assert list(ids) == list(self.last_ds_.index)


class NaiveSettings(ModelSettings):
    pass


class Naive(_MatrixModel):
    """Last observed week, repeated; interval sigma * sqrt(step)."""

    model_name = "naive"
    Settings = NaiveSettings

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        y, rows = self.y_, self._rows(only)
        point = np.repeat(y[rows, -1:], h, axis=1)
        sigma = _sigma_of(lambda sel: np.diff(y[sel], axis=1), rows)
        steps = np.sqrt(np.arange(1, h + 1))[None, :]
        return point, _normal_quantiles(point, sigma[:, None] * steps, quantiles)


class SeasonalNaiveSettings(ModelSettings):
    season_length: int = Field(52, ge=2, description="Weeks in a season.")
    fallback: str = Field("naive", pattern="^(naive|moving_average)$",
                          description="Rule for series shorter than one season.")
    fallback_window: int = Field(8, ge=1, description="Window of the moving-average fallback.")


class SeasonalNaive(_MatrixModel):
    """Same week one season ago; series shorter than a season fall back (naive by default)."""

    model_name = "seasonal_naive"
    Settings = SeasonalNaiveSettings

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        y, m = self.y_, self.settings.season_length
        n, width = y.shape
        rows = self._rows(only)
        ys = y[rows]
        steps = np.arange(1, h + 1)
        point = np.empty((len(ys), h))
        sigma = np.empty((len(ys), h))
        if width >= m:
            cols = width - m + (steps - 1) % m
            point[:] = ys[:, cols]
            sres = _sigma_of(lambda sel: y[sel, m:] - y[sel, :-m], rows) if width > m + 1 else np.ones(len(ys))
            sigma[:] = sres[:, None] * np.sqrt((steps - 1) // m + 1)[None, :]
        # series shorter than a season: the fallback, its spread pooled over those series
        every_short = np.flatnonzero(self.lengths_ < m)
        short = self.lengths_[rows] < m
        if short.any():
            at = np.searchsorted(every_short, np.arange(n)[rows][short])  # their places among the short ones
            spread = _sigma_of(lambda sel: np.diff(y[every_short[sel]], axis=1), at)
            if self.settings.fallback == "naive":
                point[short] = ys[short][:, -1:]
                sigma[short] = spread[:, None] * np.sqrt(steps)[None, :]
            else:
                w = self.settings.fallback_window
                point[short] = np.nanmean(ys[short][:, -w:], axis=1)[:, None]
                sigma[short] = spread[:, None]
        self.n_fallback_ = len(every_short)
        return point, _normal_quantiles(point, sigma, quantiles)


class MovingAverageSettings(ModelSettings):
    window: int = Field(8, ge=1, description="Weeks averaged.")


def _rolling_mean(y: np.ndarray, w: int) -> np.ndarray:
    """Trailing mean over w weeks (NaN until a full window; NaN padding propagates)."""
    out = np.full_like(y, np.nan)
    if y.shape[1] < w:
        return out
    c = np.cumsum(np.nan_to_num(y, nan=0.0), axis=1)
    c = np.concatenate([np.zeros((y.shape[0], 1)), c], axis=1)
    valid = np.cumsum(np.isfinite(y), axis=1)
    valid = np.concatenate([np.zeros((y.shape[0], 1)), valid], axis=1)
    s = c[:, w:] - c[:, :-w]
    cnt = valid[:, w:] - valid[:, :-w]
    out[:, w - 1:] = np.where(cnt == w, s / w, np.nan)
    return out


def _level(y: np.ndarray, w: int) -> np.ndarray:
    """Mean of each series' last min(w, length) weeks."""
    return np.nanmean(y[:, -w:], axis=1) if y.shape[1] else np.zeros(y.shape[0])


class MovingAverage(_MatrixModel):
    """Mean of the last `window` weeks, flat; interval from its one-step in-sample errors."""

    model_name = "moving_average"
    Settings = MovingAverageSettings

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        y, w, rows = self.y_, self.settings.window, self._rows(only)
        level = _level(y[rows], w)
        point = np.repeat(level[:, None], h, axis=1)

        def resid(sel):
            ys = y[sel]
            return ys[:, 1:] - _rolling_mean(ys, w)[:, :-1]

        sigma = _sigma_of(resid, rows)[:, None] * np.ones((1, h))
        return point, _normal_quantiles(point, sigma, quantiles)


class StatQuantSettings(ModelSettings):
    window: int = Field(8, ge=1, description="Weeks of the level (a moving average).")
    min_residuals: int = Field(
        20, ge=1, description="Own residuals a series needs; fewer = pooled, scaled residuals."
    )
    level_floor: float = Field(1.0, gt=0, description="Floor of the level that scales residuals.")


class StatQuant(_MatrixModel):
    """Level = moving average; quantile q at any step = level + the q-quantile of the series'
    past 1..h-step residuals around its moving average (empirical, no distribution assumed).
    Series with few residuals take the pooled residuals of all series, relative to the level."""

    model_name = "statquant"
    Settings = StatQuantSettings

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        y, rows = self.y_, self._rows(only)
        n, width = y.shape
        ma = _rolling_mean(y, s.window)
        scale = np.maximum(ma, s.level_floor)
        steps = range(1, min(h, width - 1) + 1)
        if len(steps):
            r = np.concatenate([y[:, k:] - ma[:, :-k] for k in steps], axis=1)
            rel = np.concatenate([(y[:, k:] - ma[:, :-k]) / scale[:, :-k] for k in steps], axis=1)
        else:
            r = rel = np.full((n, 1), np.nan)
        levels = sorted({*quantiles, 0.5})
        qs = np.asarray(levels)
        own_ok = np.sum(np.isfinite(r), axis=1) >= s.min_residuals
        self.n_pooled_ = int((~own_ok).sum())
        pooled_rel = rel[np.isfinite(rel)]
        pooled = np.quantile(pooled_rel, qs) if pooled_rel.size else np.zeros(len(qs))
        # the pooled quantiles come from every series; each row's own only from its residuals
        level, r, own_ok = _level(y, s.window)[rows], r[rows], own_ok[rows]
        own = np.zeros((len(level), len(qs)))
        if own_ok.any():
            own[own_ok] = row_nanquantile(r[own_ok], qs)
        scaled = pooled[None, :] * np.maximum(level, s.level_floor)[:, None]
        values = level[:, None] + np.where(own_ok[:, None], own, scaled)
        point = np.repeat(values[:, [levels.index(0.5)]], h, axis=1)
        qvals = np.repeat(values[:, None, [levels.index(q) for q in quantiles]], h, axis=1)
        return point, qvals
