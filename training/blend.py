"""Per-series ensemble: blend weights that minimise a loss on earlier windows, shrunk to global.

The loss is the series' MAE scaled by its naive MAE (`mae`, what MASE rewards; the default) or
SMAPE (`smape`).

Weights live on a grid over the simplex (step `grid_step`; coarser when many members). For each
series the weights with the lowest loss over its known validation points are mixed with the
global weights (lowest mean loss over all series) as `(n w_series + k w_global) / (n + k)`, with
`n` the series' validation points and `k` = `shrinkage`; a series with fewer than `min_points`
points, or unseen in validation, takes the global weights. A member with no forecast for a row
drops out of that row and the remaining weights are renormalised. Quantiles are blended with the
same weights and re-sorted.

`Blend` is a model behind the protocol: `fit(df)` fits its members and learns the weights from
an inner rolling backtest on `df`; the backtest builds it from members it has already fitted
and their forecasts at earlier cutoffs (`Blend.from_members`), which is the same computation.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    WEEK,
    Y,
    forecast_columns,
    quantile_columns,
    quantile_suffix,
)
from training.metrics import naive_scale, smape
from training.models.base import Forecaster, ModelSettings

log = logging.getLogger(__name__)

MAX_GRID = 3000
INNER_QUANTILES = (0.1, 0.5, 0.9)


def simplex_grid(n_models: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with the given step (coarsened to stay small)."""
    if n_models == 1:
        return np.ones((1, 1))
    while True:
        m = round(1 / step)
        combos = [c for c in itertools.product(range(m + 1), repeat=n_models - 1) if sum(c) <= m]
        if len(combos) <= MAX_GRID or m <= 2:
            break
        step *= 2
    grid = np.array([[*c, m - sum(c)] for c in combos], dtype="float64") / m
    return grid


def _loss(y: np.ndarray, pred: np.ndarray, objective: str, scale: np.ndarray | None) -> np.ndarray:
    """Loss per (row, combo): pred (rows, combos)."""
    if objective == "smape":
        return smape(y[:, None], pred)
    s = np.where(scale > 0, scale, 1.0)[:, None] if scale is not None else 1.0
    return np.abs(y[:, None] - pred) / s


def learn_weights(
    validation: pd.DataFrame,
    models: Sequence[str],
    *,
    grid_step: float = 0.1,
    min_points: int = 4,
    shrinkage: float = 2.0,
    objective: Literal["smape", "mae"] = "mae",
) -> tuple[pd.DataFrame, pd.Series]:
    """Per-series weights (`unique_id` x models, plus `n_points`, `source`) and global weights.

    `validation`: `unique_id, y` + one point column per model (rows with a missing member
    forecast are dropped for the weight search).
    """
    models = list(models)
    grid = simplex_grid(len(models), grid_step)
    v = validation.dropna(subset=[Y, *models]).sort_values(ID, kind="stable")
    if v.empty:
        g = pd.Series(np.full(len(models), 1 / len(models)), index=models)
        return pd.DataFrame(columns=[ID, *models, "n_points", "source"]), g
    P = v[models].to_numpy(dtype="float64")
    y = v[Y].to_numpy(dtype="float64")
    scale = v["scale"].to_numpy(dtype="float64") if "scale" in v else None
    ids = v[ID].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, len(ids)])
    n_series = len(starts)
    sums = np.zeros((n_series, len(grid)))
    chunk = max(1, 2_000_000 // len(grid))
    for a in range(0, len(y), chunk):
        b = min(a + chunk, len(y))
        loss = _loss(y[a:b], P[a:b] @ grid.T, objective, None if scale is None else scale[a:b])
        seg = np.searchsorted(starts, np.arange(a, b), side="right") - 1
        np.add.at(sums, seg, loss)
    per_series_mean = sums / counts[:, None]
    global_w = grid[np.argmin(per_series_mean.mean(axis=0))]
    # ties: the weights closest to equal among the best (a stable, less extreme choice)
    best = per_series_mean.min(axis=1, keepdims=True)
    tie = np.isclose(per_series_mean, best, rtol=1e-9, atol=1e-12)
    dist = ((grid - 1 / len(models)) ** 2).sum(axis=1)
    own = grid[np.argmin(np.where(tie, dist[None, :], np.inf), axis=1)]
    n = counts.astype("float64")[:, None]
    mixed = (n * own + shrinkage * global_w[None, :]) / (n + shrinkage)
    enough = counts >= min_points
    weights = np.where(enough[:, None], mixed, global_w[None, :])
    out = pd.DataFrame(weights, columns=models)
    out.insert(0, ID, ids[starts])
    out["n_points"] = counts
    out["source"] = np.where(enough, "series", "global")
    return out, pd.Series(global_w, index=models)


def combine(
    preds: pd.DataFrame,
    models: Sequence[str],
    weights: pd.DataFrame,
    global_weights: pd.Series,
    quantiles: Sequence[float],
    *,
    name: str = "blend",
) -> pd.DataFrame:
    """Blend member forecasts (`unique_id, ds` + every member's columns) with per-series weights."""
    models = list(models)
    w = preds[[ID]].merge(weights[[ID, *models]], on=ID, how="left")[models].to_numpy(dtype="float64")
    missing = np.isnan(w).any(axis=1)
    w[missing] = global_weights[models].to_numpy()
    out = preds[[c for c in preds.columns if c in (ID, DS, CUTOFF, Y)]].copy()
    targets = [name, *quantile_columns(name, quantiles)]
    member_cols = [[forecast_columns(m, quantiles)[j] for m in models] for j in range(len(targets))]
    for tgt, cols in zip(targets, member_cols, strict=True):
        vals = preds[cols].to_numpy(dtype="float64")
        ok = np.isfinite(vals)
        ww = np.where(ok, w, 0.0)
        tot = ww.sum(axis=1)
        # a row where every weighted member is missing falls back to equal weights of the rest
        eq = np.where(ok, 1.0, 0.0)
        ww = np.where((tot > 0)[:, None], ww, eq)
        tot = ww.sum(axis=1)
        out[tgt] = np.where(tot > 0, (np.nan_to_num(vals) * ww).sum(axis=1) / np.where(tot > 0, tot, 1), np.nan)
    q = out[targets[1:]].to_numpy()
    out[targets[1:]] = np.sort(q, axis=1)
    return out


WIDTH_GRID = np.round(np.exp(np.linspace(np.log(0.25), np.log(4.0), 57)), 4)


def calibrate_widths(
    validation: pd.DataFrame, models: Sequence[str], weights: pd.DataFrame, global_weights: pd.Series
) -> dict[str, float]:
    """One factor per quantile level that scales the blend's distance from its median so the
    share of validation actuals below it matches the level (split-conformal style)."""
    levels = _common_levels(validation, models)
    if 0.5 not in levels or len(levels) < 2:
        return {}
    cols = [c for m in models for c in forecast_columns(m, levels)]
    v = validation.dropna(subset=[Y, *cols])
    if len(v) < 50:
        return {}
    b = combine(v, models, weights, global_weights, levels, name="b")
    y = v[Y].to_numpy(dtype="float64")
    mid = b["b-q50"].to_numpy()
    out = {}
    for q in levels:
        if q == 0.5:
            continue
        col = f"b-{quantile_columns('b', [q])[0].split('-', 1)[1]}"
        d = b[col].to_numpy() - mid
        below = np.array([np.mean(y <= np.maximum(mid + f * d, 0.0)) for f in WIDTH_GRID])
        out[quantile_columns("", [q])[0][1:]] = float(WIDTH_GRID[np.argmin(np.abs(below - q))])
    return out


def _common_levels(validation: pd.DataFrame, models: Sequence[str]) -> list[float]:
    levels = []
    for pct in range(1, 100):
        if all(f"{m}-q{pct}" in validation.columns for m in models):
            levels.append(pct / 100)
    return levels


def width_factor(q: float, factors: dict[str, float]) -> float | None:
    """The factor of level `q`: its own when calibrated, else that of the nearest calibrated
    level on the same side of the median (so any requested level gets calibrated widths)."""
    key = quantile_suffix(q)
    if key in factors:
        return factors[key]
    side = [(abs(int(k[1:]) / 100 - q), f) for k, f in factors.items() if (int(k[1:]) - 50) * (q - 0.5) > 0]
    return min(side)[1] if side else None


def apply_widths(out: pd.DataFrame, name: str, quantiles: Sequence[float], factors: dict[str, float]) -> pd.DataFrame:
    mid_col = f"{name}-q50"
    if not factors or mid_col not in out:
        return out
    mid = out[mid_col].to_numpy()
    for q in quantiles:
        f = width_factor(q, factors)
        if f is not None:
            col = f"{name}-{quantile_suffix(q)}"
            out[col] = np.maximum(mid + f * (out[col].to_numpy() - mid), 0.0)
    return out


class BlendSettings(ModelSettings):
    members: list[dict[str, Any]] = Field(
        default_factory=list, description="Members as {model, alias, params} (config `forecast.models`)."
    )
    grid_step: float = Field(0.1, gt=0, le=0.5)
    min_points: int = Field(4, ge=1)
    shrinkage: float = Field(2.0, ge=0)
    objective: Literal["smape", "mae"] = "mae"
    calibrate: bool = Field(
        True, description="Rescale the blended interval widths so validation coverage is nominal."
    )
    inner_windows: int = Field(3, ge=1, description="Windows of the inner backtest in `fit`.")
    step_weeks: int = Field(4, ge=1)
    max_horizon: int = Field(12, ge=1)


class Blend(Forecaster):
    """The ensemble: members' forecasts blended with per-series weights."""

    model_name = "blend"
    Settings = BlendSettings
    global_model = True

    def _fit(self, df: pd.DataFrame) -> None:
        from training.models import create

        s = self.settings
        if not s.members:
            raise ValueError("blend: no members")
        members = {}
        for spec in s.members:
            m = create(spec["model"], alias=spec.get("alias"), **spec.get("params", {}))
            members[m.alias] = m
        # inner rolling backtest on df: members fitted at earlier cutoffs, scored on what followed
        last = df[DS].max()
        parts = []
        for i in range(s.inner_windows, 0, -1):
            cutoff = last - WEEK * (s.step_weeks * i)
            train = df[df[DS] <= cutoff]
            if train.groupby(ID).size().max() < 3:
                continue
            joined = None
            for name, spec in zip(members, s.members, strict=True):
                m = create(spec["model"], alias=name, **spec.get("params", {}))
                try:
                    fc = m.fit(train).predict(h=min(s.max_horizon, s.step_weeks * i), quantiles=INNER_QUANTILES)
                except ValueError as e:
                    log.warning("blend: member %s skipped at inner cutoff %s: %s", name, cutoff.date(), e)
                    continue
                joined = fc if joined is None else joined.merge(fc, on=[ID, DS], how="outer")
            if joined is not None:
                scale = naive_scale(train).rename("scale").reset_index()
                parts.append(joined.merge(df[[ID, DS, Y]], on=[ID, DS], how="inner").merge(scale, on=ID, how="left"))
        validation = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[ID, DS, Y])
        for name in members:
            if name not in validation:
                validation[name] = np.nan
        for m in members.values():
            m.fit(df)
        self._set(members, validation)

    @classmethod
    def from_members(
        cls, fitted: dict[str, Forecaster], validation: pd.DataFrame, *, alias: str | None = None, **params: Any
    ) -> Blend:
        """A fitted blend from fitted members and their forecasts on earlier windows
        (`unique_id, y` + one point column per member, only weeks known at the fit)."""
        blend = cls(alias=alias, **params)
        blend.last_ds_ = next(iter(fitted.values())).last_ds_
        blend.n_series_ = len(blend.last_ds_)
        blend._set(fitted, validation)
        blend.fitted_ = True
        return blend

    def _set(self, members: dict[str, Forecaster], validation: pd.DataFrame) -> None:
        s = self.settings
        self.members_ = members
        self.weights_, self.global_weights_ = learn_weights(
            validation, list(members), grid_step=s.grid_step, min_points=s.min_points,
            shrinkage=s.shrinkage, objective=s.objective,
        )
        self.width_factors_: dict[str, float] = {}
        if s.calibrate:
            self.width_factors_ = calibrate_widths(validation, list(members), self.weights_, self.global_weights_)

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        preds = None
        for m in self.members_.values():
            fc = m.predict(h=h, quantiles=quantiles)
            preds = fc if preds is None else preds.merge(fc, on=[ID, DS], how="outer")
        out = combine(preds, list(self.members_), self.weights_, self.global_weights_, quantiles, name=self.alias)
        return apply_widths(out, self.alias, quantiles, getattr(self, "width_factors_", {}))
