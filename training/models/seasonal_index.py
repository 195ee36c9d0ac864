"""Seasonal index: the rule a retail planner applies by hand.

The forecast of a week is what the same week did a season earlier (smoothed over the weeks
either side), times the growth since: the mean of the last `window` weeks over the mean of the
same weeks a season earlier. The growth ratio is clipped to [1/max_ratio, max_ratio] and shrunk
towards 1 in log space (`damping` = 1 keeps it, 0 ignores it). A series without a full season
plus `window` weeks of history, or with no finite value in the season-ago weeks, gets its recent
level (mean of the last `window` weeks). Steps beyond one season read the season before that and
apply the ratio once per season stepped back.

Intervals are normal, from the rule's own one-step errors over the last `residual_weeks`
origins of each series (pooled across series where a series has fewer than two).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pydantic import Field

from training.models.base import ModelSettings
from training.models.baselines import _level, _MatrixModel, _normal_quantiles, _pooled_sigma


class SeasonalIndexSettings(ModelSettings):
    season_length: int = Field(52, ge=2, description="Weeks in a season.")
    window: int = Field(8, ge=1, description="Weeks of the recent level and of its season-ago match.")
    smooth: int = Field(1, ge=0, description="Season-ago weeks averaged either side of the target week.")
    damping: float = Field(0.7, ge=0.0, le=1.0, description="Share of the log growth ratio kept (0 = none).")
    max_ratio: float = Field(3.0, ge=1.0, description="Growth ratio clipped to [1/max_ratio, max_ratio].")
    level_floor: float = Field(1.0, ge=0.0, description="Added to both levels of the ratio (guards zero levels).")
    residual_weeks: int = Field(26, ge=1, description="Past origins whose one-step errors give the interval.")


def _window_mean(y: np.ndarray, end: int, w: int) -> np.ndarray:
    """Mean of columns end-w+1..end per row; NaN where any of them is missing or out of range."""
    start = end - w + 1
    if start < 0 or end >= y.shape[1]:
        return np.full(y.shape[0], np.nan)
    block = y[:, start:end + 1]
    return np.where(np.isfinite(block).all(axis=1), block.mean(axis=1), np.nan)


def seasonal_index_point(y: np.ndarray, origin: int, steps: np.ndarray, s: SeasonalIndexSettings) -> np.ndarray:
    """Point forecasts (rows x steps) from the columns up to `origin` of the matrix `y`
    (right-aligned series, NaN-padded on the left). Reads nothing after `origin`."""
    y = y[:, :origin + 1]
    m, w = s.season_length, s.window
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of short series
        recent = _level(y, w)
    recent = np.where(np.isfinite(recent), recent, 0.0)
    ago = _window_mean(y, origin - m, w)
    ratio = (recent + s.level_floor) / (ago + s.level_floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.clip(np.log(ratio), -np.log(s.max_ratio), np.log(s.max_ratio)) * s.damping
    log_r = np.where(np.isfinite(log_r), log_r, 0.0)
    out = np.empty((y.shape[0], len(steps)))
    for j, step in enumerate(steps):
        back = (int(step) - 1) // m + 1  # seasons stepped back so that the week is known
        target = origin + int(step) - back * m
        lo, hi = max(target - s.smooth, 0), min(target + s.smooth, origin)
        base = np.full(y.shape[0], np.nan)
        if lo <= hi:
            block = y[:, lo:hi + 1]
            ok = np.isfinite(block).any(axis=1)
            base[ok] = np.nanmean(block[ok], axis=1)
        seasonal = base * np.exp(log_r * back)
        usable = np.isfinite(ago) & np.isfinite(seasonal)
        out[:, j] = np.where(usable, seasonal, recent)
    return np.maximum(out, 0.0)


class SeasonalIndex(_MatrixModel):
    """Same weeks a season ago (smoothed), scaled by the damped growth of the recent level."""

    model_name = "seasonal_index"
    Settings = SeasonalIndexSettings

    @classmethod
    def test_params(cls) -> dict:
        return {"season_length": 4, "window": 2}

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        y, s, rows = self.y_, self.settings, self._rows(only)
        last = y.shape[1] - 1
        point = seasonal_index_point(y, last, np.arange(1, h + 1), s)
        first = max(last - s.residual_weeks, 0)
        resid = np.full((y.shape[0], last - first), np.nan)
        for k, origin in enumerate(range(first, last)):
            resid[:, k] = y[:, origin + 1] - seasonal_index_point(y, origin, np.array([1]), s)[:, 0]
        sigma = _pooled_sigma(resid) if resid.shape[1] else np.ones(y.shape[0])
        sigma_h = sigma[rows][:, None] * np.ones((1, h))
        return point[rows], _normal_quantiles(point[rows], sigma_h, quantiles)
