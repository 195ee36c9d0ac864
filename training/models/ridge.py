"""Global linear model on level-scaled lags, direct per horizon step (`ridge`).

Per step k (1..h), shared by every series: at an origin week t the features are the series' last
`n_lags` weeks and its 4-, 26- and 52-week means, each divided by the series' level at t (mean
of its last `level_weeks` weeks); the target is y[t + k] over the same level. Where the history
holds the weeks around the target week one season earlier (t + k - 52 and its neighbours, never a
week after t), a second model of that step also reads them (over the level at t) and their ratio
to that season's level; each row is predicted by the richest model its history allows. Missing
lags take the level (1 after scaling).

The loss is least absolute deviations by default (`loss: l1`, iteratively reweighted least
squares with a Huber-like floor): the median, which is what MASE rewards, and robust to promotion
spikes. Each row weighs the series' level over its naive scale, so the loss is each series' MASE
rather than its error relative to its level. A small ridge penalty on standardised features; at
most `max_rows` rows per step (a fixed-seed sample) on the last `max_origins` origins of every
series: a fit is a few matrix products even on thousands of series.

Being linear in the scaled lags it extrapolates levels and trends that trees (XGBoost) hold
flat, which is why its errors differ from theirs. Quantiles: the point plus the empirical
quantiles of its in-sample scaled residuals at that step (pooled over series, per model) times
the series' level.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from training.lags import WindowSums
from training.models.base import Forecaster, ModelError, ModelSettings, series_matrix

# the in-sample scaled residuals are kept as their quantiles at these levels (every half percent)
RESID_LEVELS = np.linspace(0.0, 1.0, 201)
# rows a step's seasonal model needs (fewer: every row takes the model of the recent weeks)
MIN_SEASONAL_ROWS = 200


class RidgeSettings(ModelSettings):
    n_lags: int = Field(13, ge=1, le=104, description="Recent weeks read as features.")
    level_weeks: int = Field(13, ge=1, description="Weeks whose mean is the level that scales a series.")
    season_length: int = Field(52, ge=2, description="Weeks in a season (seasonal lags; 0 weeks of season off).")
    seasonal: bool = Field(True, description="Read the weeks around the target week one season earlier.")
    max_origins: int = Field(208, ge=8, description="Training origins per series: its last this many weeks.")
    alpha: float = Field(0.01, ge=0, description="Ridge penalty per training row on standardised features (x 1e-3).")
    clip: float = Field(20.0, gt=1, description="Scaled features and targets are clipped to [-clip, clip].")
    min_history: int = Field(4, ge=1, description="Weeks an origin needs behind it to train on.")
    loss: Literal["l1", "l2"] = Field(
        "l1", description="l1: least absolute deviations (the median, what MASE rewards; iteratively "
        "reweighted least squares); l2: least squares (the mean).")
    irls_iters: int = Field(5, ge=1, description="Reweighting rounds of the l1 loss.")
    max_rows: int = Field(40_000, ge=100, description="Training rows per step: a uniform sample (seed 0) beyond it.")
    mase_weights: bool = Field(
        True, description="Weigh a row by the series' level over its naive scale, so the loss is "
        "each series' MASE rather than its error relative to its level.")


def _trailing_means(y: np.ndarray, windows: tuple[int, ...]) -> list[np.ndarray]:
    """Per window w: the mean of the observed weeks among the last w up to each column (NaN where
    none)."""
    sums = WindowSums(y)
    rows, cols = np.arange(y.shape[0])[:, None], np.arange(y.shape[1])
    return [sums.mean(rows, cols - w + 1, cols) for w in windows]


class RidgeGlobal(Forecaster):
    """Direct multi-step global ridge on level-scaled lags (see the module docstring)."""

    model_name = "ridge"
    Settings = RidgeSettings
    global_model = True
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"n_lags": 4, "max_origins": 20}

    # ------------------------------------------------------------------ features
    def _base(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level (n, W) and the step-free features (n, W, p) of every origin column."""
        s = self.settings
        level, *means = _trailing_means(y, (s.level_weeks, 4, 26, 52))
        longer = means[-1]
        # a level of zero (no sale in the last weeks) takes a share of the longer mean, then a floor
        floor = np.nan_to_num(0.1 * longer, nan=0.0)
        level = np.maximum(np.nan_to_num(level, nan=0.0), np.maximum(floor, self.floor_))
        n, w = y.shape
        feats = []
        for i in range(s.n_lags):
            lag = np.full((n, w), np.nan)
            if i < w:
                lag[:, i:] = y[:, : w - i]
            feats.append(lag)
        x = np.stack(feats + means, axis=2) / level[:, :, None]
        x = np.where(np.isfinite(x), x, 1.0)
        return level, np.clip(x, -s.clip, s.clip)

    def _seasonal(self, y: np.ndarray, level: np.ndarray, k: int) -> np.ndarray:
        """(n, W, 5): the weeks t+k-m-1..t+k-m+1 over the level at t, their mean over the level one
        season before t, and a flag that they exist."""
        s = self.settings
        m = s.season_length
        n, w = y.shape
        out = np.full((n, w, 5), np.nan)
        cols = np.arange(w)
        past_level = np.full((n, w), np.nan)
        (lm,) = _trailing_means(y, (s.level_weeks,))
        src = cols - m
        ok = src >= 0
        past_level[:, ok] = lm[:, src[ok]]
        for j, off in enumerate((-1, 0, 1)):
            src = cols + k - m + off
            good = (src >= 0) & (src < w) & (src <= cols)  # never a week after the origin
            out[:, good, j] = y[:, src[good]]
        cnt = np.isfinite(out[:, :, :3]).sum(axis=2)
        near = np.where(cnt > 0, np.nansum(out[:, :, :3], axis=2) / np.maximum(cnt, 1), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = near / np.maximum(past_level, self.floor_)
        out[:, :, :3] = out[:, :, :3] / level[:, :, None]
        out[:, :, 3] = ratio
        have = np.isfinite(out[:, :, 1])
        out = np.where(np.isfinite(out), out, 1.0)
        out[:, :, 4] = have.astype("float64")
        return np.clip(out, -s.clip, s.clip)

    def _design(self, base: np.ndarray, y: np.ndarray, level: np.ndarray, k: int) -> np.ndarray:
        if self.settings.seasonal:
            return np.concatenate([base, self._seasonal(y, level, k)], axis=2)
        return base

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        h = int(self.horizon_)
        y, _, ids = series_matrix(df)
        if list(ids) != list(self.last_ds_.index):
            raise ModelError(f"model {self.alias!r}: series out of order")
        pos = y[np.isfinite(y) & (y > 0)]
        self.floor_ = float(max(np.median(pos) * 1e-3, 1e-6)) if pos.size else 1.0
        # the columns any origin or seasonal lag can read: the last max_origins + h + season + lags
        keep = s.max_origins + h + s.season_length + s.n_lags + 2
        y = y[:, -keep:] if y.shape[1] > keep else y
        n, w = y.shape
        level, base = self._base(y)
        seen = np.cumsum(np.isfinite(y), axis=1)  # weeks observed up to each column
        # a row's weight: its level over the series' naive scale (in-sample MAE of the last week)
        d = np.abs(np.diff(y, axis=1))
        cnt = np.isfinite(d).sum(axis=1)
        nscale = np.where(cnt > 0, np.nansum(d, axis=1) / np.maximum(cnt, 1), np.nan)
        nscale = np.where(np.isfinite(nscale) & (nscale > 0), nscale, np.nan)
        rel = level / nscale[:, None]
        cap = np.nanquantile(rel, 0.99) if np.isfinite(rel).any() else 1.0
        weight = np.clip(np.nan_to_num(rel, nan=1.0), 0.0, cap) if s.mase_weights else np.ones_like(level)
        first_origin = max(w - s.max_origins - h, 0)
        p_base = base.shape[2]
        # per step: a model on the recent weeks for every row and, where the history holds the
        # weeks a season before the target, one that reads them too (each row is predicted by the
        # richest model its history allows)
        self.steps_: list[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = []
        self.n_rows_: list[dict[str, int]] = []
        for k in range(1, h + 1):
            X = self._design(base, y, level, k)
            target = np.full((n, w), np.nan)
            if k < w:
                target[:, : w - k] = y[:, k:] / level[:, : w - k]
            rows = np.isfinite(target) & (seen >= s.min_history)
            rows[:, :first_origin] = False
            fits, counts = {}, {}
            groups = {"recent": (rows, p_base)}
            if s.seasonal:
                groups["seasonal"] = (rows & (X[:, :, p_base + 4] > 0), X.shape[2])
            for name, (sel, p) in groups.items():
                counts[name] = int(sel.sum())
                if name == "seasonal" and counts[name] < MIN_SEASONAL_ROWS:
                    continue
                fits[name] = self._fit_rows(X[sel][:, :p], np.clip(target[sel], -s.clip, s.clip), weight[sel], k)
            self.steps_.append(fits)
            self.n_rows_.append(counts)
        self.y_ = y

    def _fit_rows(self, X: np.ndarray, t: np.ndarray, w: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
        """Coefficients, feature means and spreads, and the residual quantiles of one model."""
        if len(t) > self.settings.max_rows:
            pick = np.sort(np.random.default_rng(seed).choice(len(t), self.settings.max_rows, replace=False))
            X, t, w = X[pick], t[pick], w[pick]
        coef, mu, sd = self._solve(X, t, w)
        resid = t - self._apply(X, coef, mu, sd) if len(t) else np.zeros(1)
        return coef, mu, sd, np.quantile(resid, RESID_LEVELS)

    def _solve(self, X: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = X.shape[1]
        if len(t) < p + 2:  # too few rows to learn: the level (scaled target 1)
            coef = np.zeros(p + 1)
            coef[0] = 1.0
            return coef, np.zeros(p), np.ones(p)
        mu = X.mean(axis=0)
        sd = X.std(axis=0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        Z = (X - mu) / sd
        A = np.concatenate([np.ones((len(Z), 1)), Z], axis=1)
        w = w / max(float(w.mean()), 1e-12)
        pen = np.diag(np.r_[1e-9, np.full(p, self.settings.alpha * 1e-3 + 1e-9)]) * len(t)
        coef = np.linalg.solve((A * w[:, None]).T @ A + pen, A.T @ (w * t))
        if self.settings.loss == "l1":
            # IRLS: |r| = r^2 / |r|; the floor (half the least-squares fit's median absolute
            # residual: quadratic below it, as Huber's loss) keeps rows fitted almost exactly from
            # dominating and the system well conditioned
            eps = max(float(np.median(np.abs(t - A @ coef))) * 0.5, 1e-6)
            for _ in range(self.settings.irls_iters):
                wi = w / np.maximum(np.abs(t - A @ coef), eps)
                coef = np.linalg.solve((A * wi[:, None]).T @ A + pen * float(wi.mean()), A.T @ (wi * t))
        return coef, mu, sd

    @staticmethod
    def _apply(X: np.ndarray, coef: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
        return coef[0] + ((X - mu) / sd) @ coef[1:]

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        y = self.y_
        level, base = self._base(y)
        n = y.shape[0]
        point = np.empty((n, h))
        qvals = np.empty((n, h, len(quantiles)))
        lev = level[:, -1]
        p_base = base.shape[2]
        for k in range(1, h + 1):
            X = self._design(base, y, level, k)[:, -1, :]
            fits = self.steps_[k - 1]
            pred = np.empty(n)
            offsets = np.empty((n, len(quantiles)))
            seasonal = (X[:, p_base + 4] > 0) if "seasonal" in fits else np.zeros(n, dtype=bool)
            for name, sel in (("recent", ~seasonal), ("seasonal", seasonal)):
                if not sel.any():
                    continue
                coef, mu, sd, r = fits[name]
                pred[sel] = self._apply(X[sel][:, : len(mu)], coef, mu, sd)
                # the point is the median: offsets relative to the residuals' own median
                offsets[sel] = np.interp(quantiles, RESID_LEVELS, r) - float(np.interp(0.5, RESID_LEVELS, r))
            point[:, k - 1] = np.maximum(pred, 0.0) * lev
            qvals[:, k - 1, :] = np.maximum(pred[:, None] + offsets, 0.0) * lev[:, None]
        return self._frame(h, quantiles, point, qvals)
