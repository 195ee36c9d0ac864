"""Per-series ensemble: blend weights that minimise a loss on earlier windows, per horizon
bucket, shrunk to global.

The loss is the series' MAE scaled by its naive MAE (`mae`, what MASE rewards; the default) or
SMAPE (`smape`).

Weights depend on how far ahead a week is: validation rows carry their step (weeks after their
cutoff) and the steps fall into buckets (`horizon_buckets`, the last step of each but the last:
[4, 8] gives 1-4, 5-8, 9+); every bucket has its own weights, learned from that bucket's past
errors only. A bucket with too few validation rows takes the nearest shorter bucket's weights.

Weights live on a grid over the simplex (step `grid_step`; coarser when many members). Within a
bucket, each series' weights with the lowest loss over its validation points are mixed with the
bucket's global weights (lowest mean loss over all series) as `(n w_series + k w_global) / (n + k)`,
with `n` the series' validation points and `k` the shrinkage; a series with fewer than
`min_points` points, or unseen in validation, takes the global weights. With
`shrinkage="auto"` (the default) `k` is chosen on the data: weights are learned on every
validation cutoff but the latest and `k` is the value of `SHRINKAGE_GRID` whose blend does best
on the latest (on sparse, noisy series that is usually a large `k`: their own errors say little).
A member with no forecast for a row drops out of that row and the remaining weights are
renormalised. Quantiles are blended with the same weights and re-sorted.

`Blend` is a model behind the protocol: `fit(df, horizon=H)` fits its members and learns the
weights from an inner rolling backtest on `df`; the backtest builds it from members it has
already fitted and their forecasts at earlier cutoffs (`Blend.from_members`), which is the same
computation.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

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
SHRINKAGE_GRID = (0.0, 1.0, 4.0, 16.0, 64.0, float("inf"))
MIN_BUCKET_ROWS = 30
BUCKET = "bucket"
STEP = "step"


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


def bucket_of(step: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Bucket index of each step: edges [4, 8] give 0 for 1-4, 1 for 5-8, 2 for 9 and beyond."""
    return np.searchsorted(np.asarray(list(edges), dtype="int64"), np.asarray(step, dtype="int64"), side="left")


def with_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `step` column (weeks after its cutoff; 1 where there is no cutoff)."""
    if STEP in frame:
        return frame
    out = frame.copy()
    if CUTOFF in out and len(out):
        out[STEP] = ((out[DS] - out[CUTOFF]) // WEEK).astype("int64")
    else:
        out[STEP] = 1
    return out


class _Search:
    """Per-series loss of every grid combination on one set of validation rows."""

    def __init__(self, v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str) -> None:
        v = v.sort_values(ID, kind="stable")
        P = v[models].to_numpy(dtype="float64")
        y = v[Y].to_numpy(dtype="float64")
        scale = v["scale"].to_numpy(dtype="float64") if "scale" in v else None
        ids = v[ID].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
        self.counts = np.diff(np.r_[starts, len(ids)])
        self.ids = ids[starts]
        sums = np.zeros((len(starts), len(grid)))
        chunk = max(1, 2_000_000 // len(grid))
        for a in range(0, len(y), chunk):
            b = min(a + chunk, len(y))
            loss = _loss(y[a:b], P[a:b] @ grid.T, objective, None if scale is None else scale[a:b])
            seg = np.searchsorted(starts, np.arange(a, b), side="right") - 1
            np.add.at(sums, seg, loss)
        self.mean = sums / np.maximum(self.counts, 1)[:, None]
        self.P, self.y, self.scale, self.row_series = P, y, scale, np.repeat(np.arange(len(starts)), self.counts)

    def global_index(self) -> int:
        return int(np.argmin(self.mean.mean(axis=0)))

    def own(self, grid: np.ndarray) -> np.ndarray:
        """Each series' best combination; ties go to the one closest to equal weights."""
        best = self.mean.min(axis=1, keepdims=True)
        tie = np.isclose(self.mean, best, rtol=1e-9, atol=1e-12)
        dist = ((grid - 1 / grid.shape[1]) ** 2).sum(axis=1)
        return grid[np.argmin(np.where(tie, dist[None, :], np.inf), axis=1)]


def _mix(own: np.ndarray, counts: np.ndarray, global_w: np.ndarray, k: float, min_points: int) -> np.ndarray:
    if np.isinf(k):
        return np.repeat(global_w[None, :], len(own), axis=0)
    n = counts.astype("float64")[:, None]
    mixed = (n * own + k * global_w[None, :]) / np.maximum(n + k, 1e-12)
    return np.where((counts >= min_points)[:, None], mixed, global_w[None, :])


def _bucket_weights(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str
) -> dict[int, tuple[_Search, np.ndarray, np.ndarray]]:
    """Per bucket with enough rows: its search, own weights per series and global weights."""
    out = {}
    for b, vb in v.groupby(BUCKET, sort=True):
        if len(vb) < MIN_BUCKET_ROWS:
            continue
        search = _Search(vb, models, grid, objective)
        out[int(b)] = (search, search.own(grid), grid[search.global_index()])
    return out


def _choose_shrinkage(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str, min_points: int
) -> float | None:
    """The k of SHRINKAGE_GRID whose weights, learned on every cutoff but the latest, have the
    lowest loss on the latest cutoff; None when the validation holds fewer than two cutoffs."""
    if CUTOFF not in v or v[CUTOFF].nunique() < 2:
        return None
    last = v[CUTOFF].max()
    early, late = v[v[CUTOFF] < last], v[v[CUTOFF] == last]
    learned = _bucket_weights(early, models, grid, objective)
    if not learned:
        return None
    totals = np.zeros(len(SHRINKAGE_GRID))
    n_series = 0
    for b, lb in late.groupby(BUCKET, sort=True):
        key = max((k for k in learned if k <= b), default=min(learned))
        search, own, global_w = learned[key]
        lb = lb.sort_values(ID, kind="stable")
        pos = pd.Index(search.ids).get_indexer(lb[ID].to_numpy())
        P = lb[models].to_numpy(dtype="float64")
        y = lb[Y].to_numpy(dtype="float64")
        scale = lb["scale"].to_numpy(dtype="float64") if "scale" in lb else None
        ids = lb[ID].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        counts = np.diff(np.r_[starts, len(ids)])
        seg = np.repeat(np.arange(len(starts)), counts)
        n_series += len(starts)
        for j, k in enumerate(SHRINKAGE_GRID):
            w = _mix(own, search.counts, global_w, k, min_points)
            wr = np.where((pos >= 0)[:, None], w[np.clip(pos, 0, None)], global_w[None, :])
            pred = (P * wr).sum(axis=1)
            loss = _loss(y, pred[:, None], objective, scale)[:, 0]
            totals[j] += (np.bincount(seg, loss) / counts).sum()
    if not n_series:
        return None
    return float(SHRINKAGE_GRID[int(np.argmin(totals))])


def learn_weights(
    validation: pd.DataFrame,
    models: Sequence[str],
    *,
    grid_step: float = 0.1,
    min_points: int = 4,
    shrinkage: float | Literal["auto"] = "auto",
    objective: Literal["smape", "mae"] = "mae",
    horizon_buckets: Sequence[int] = (4, 8),
    fallback_shrinkage: float = 16.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weights per (series, bucket) (`unique_id, bucket` x models, plus `n_points`, `source`)
    and global weights per bucket (index: bucket 0..len(horizon_buckets)).

    `validation`: `unique_id, y` + one point column per model, and `cutoff` (for the steps and
    the choice of the shrinkage) or `step`; rows with a missing member forecast are dropped.
    """
    models = list(models)
    n_buckets = len(horizon_buckets) + 1
    grid = simplex_grid(len(models), grid_step)
    v = with_steps(validation.dropna(subset=[Y, *models]))
    equal = np.full(len(models), 1 / len(models))
    if v.empty:
        g = pd.DataFrame([equal] * n_buckets, columns=models, index=pd.RangeIndex(n_buckets, name=BUCKET))
        return pd.DataFrame(columns=[ID, BUCKET, *models, "n_points", "source"]), g
    v = v.assign(**{BUCKET: bucket_of(v[STEP].to_numpy(), horizon_buckets)})
    k = shrinkage
    if k == "auto":
        chosen = _choose_shrinkage(v, models, grid, objective, min_points)
        k = fallback_shrinkage if chosen is None else chosen
    learned = _bucket_weights(v, models, grid, objective)
    if not learned:  # too few rows for any bucket alone: one set of weights for all
        search = _Search(v, models, grid, objective)
        learned = {0: (search, search.own(grid), grid[search.global_index()])}
    glob, parts = [], []
    for b in range(n_buckets):
        key = max((x for x in learned if x <= b), default=min(learned))
        search, own, global_w = learned[key]
        glob.append(global_w)
        w = _mix(own, search.counts, global_w, float(k), min_points)
        part = pd.DataFrame(w, columns=models)
        part.insert(0, BUCKET, b)
        part.insert(0, ID, search.ids)
        part["n_points"] = search.counts
        part["source"] = np.where((search.counts >= min_points) & ~np.isinf(k), "series", "global")
        parts.append(part)
    weights = pd.concat(parts, ignore_index=True)
    weights.attrs["shrinkage"] = float(k)
    g = pd.DataFrame(glob, columns=models, index=pd.RangeIndex(n_buckets, name=BUCKET))
    return weights, g


def combine(
    preds: pd.DataFrame,
    models: Sequence[str],
    weights: pd.DataFrame,
    global_weights: pd.DataFrame,
    quantiles: Sequence[float],
    *,
    name: str = "blend",
    horizon_buckets: Sequence[int] = (4, 8),
) -> pd.DataFrame:
    """Blend member forecasts (`unique_id, ds` + every member's columns, and `cutoff` or `step`)
    with the weights of each row's series and horizon bucket."""
    models = list(models)
    steps = with_steps(preds)[STEP].to_numpy()
    buckets = np.minimum(bucket_of(steps, horizon_buckets), len(global_weights) - 1)
    keys = preds[[ID]].assign(**{BUCKET: buckets})
    w = keys.merge(weights[[ID, BUCKET, *models]], on=[ID, BUCKET], how="left")[models].to_numpy(dtype="float64")
    missing = np.isnan(w).any(axis=1)
    w[missing] = global_weights[models].to_numpy()[buckets[missing]]
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


# factors of the distance from the median: narrower (0.25) to far wider (64, which lets a low
# bound of a sparse series reach zero)
WIDTH_GRID = np.round(np.exp(np.linspace(np.log(0.25), np.log(64.0), 81)), 4)


def calibrate_widths(
    validation: pd.DataFrame, models: Sequence[str], weights: pd.DataFrame, global_weights: pd.DataFrame,
    *, horizon_buckets: Sequence[int] = (4, 8),
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
    b = combine(v, models, weights, global_weights, levels, name="b", horizon_buckets=horizon_buckets)
    y = v[Y].to_numpy(dtype="float64")
    mid = b["b-q50"].to_numpy()
    out = {}
    for q in levels:
        if q == 0.5:
            continue
        col = f"b-{quantile_columns('b', [q])[0].split('-', 1)[1]}"
        d = b[col].to_numpy() - mid
        below = np.array([np.mean(y <= np.maximum(mid + f * d, 0.0)) for f in WIDTH_GRID])
        out[quantile_columns("", [q])[0][1:]] = float(WIDTH_GRID[_quantile_factor(below, q)])
    return out


def _quantile_factor(below: np.ndarray, q: float) -> int:
    """The grid index whose bound is the level-`q` quantile of the validation actuals: the
    lowest bound with at least a share `q` of actuals at or below it (the quantile's definition,
    which holds for discrete demand too). Below the median the bound falls as the factor grows,
    so that is the largest such factor; above it, the smallest. On sparse series with many
    zero weeks no factor brings the share at or below a low bound down to `q`; the rule then
    widens it to zero instead of keeping it above the zeros. When no factor reaches `q` (an
    upper bound that stays too low), the closest share wins."""
    ok = np.flatnonzero(below >= q)
    if len(ok) == 0:
        return int(np.argmin(np.abs(below - q)))
    return int(ok[-1] if q < 0.5 else ok[0])


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
    shrinkage: float | Literal["auto"] = Field("auto")
    horizon_buckets: list[int] = Field(default_factory=lambda: [4, 8])
    objective: Literal["smape", "mae"] = "mae"
    calibrate: bool = Field(
        True, description="Rescale the blended interval widths so validation coverage is nominal."
    )
    inner_windows: int = Field(3, ge=1, description="Windows of the inner backtest in `fit`.")
    step_weeks: int = Field(4, ge=1)

    @field_validator("horizon_buckets")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if any(b < 1 for b in v) or any(b >= c for b, c in itertools.pairwise(v)):
            raise ValueError("horizon_buckets must be increasing steps of at least 1")
        return v

    @field_validator("shrinkage")
    @classmethod
    def _non_negative(cls, v: float | str) -> float | str:
        if v != "auto" and float(v) < 0:
            raise ValueError("shrinkage must be 'auto' or at least 0")
        return v


class Blend(Forecaster):
    """The ensemble: members' forecasts blended with per-series, per-horizon-bucket weights."""

    model_name = "blend"
    Settings = BlendSettings
    global_model = True
    fixed_horizon = True  # its members are fitted for the horizon

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {
            "members": [{"model": "naive"}, {"model": "moving_average", "params": {"window": 4}}],
            "inner_windows": 2,
        }

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
                    fc = m.fit(train, horizon=self.horizon_).predict(h=self.horizon_, quantiles=INNER_QUANTILES)
                except ValueError as e:
                    log.warning("blend: member %s skipped at inner cutoff %s: %s", name, cutoff.date(), e)
                    continue
                joined = fc if joined is None else joined.merge(fc, on=[ID, DS], how="outer")
            if joined is not None:
                scale = naive_scale(train).rename("scale").reset_index()
                known = joined.merge(df[[ID, DS, Y]], on=[ID, DS], how="inner").merge(scale, on=ID, how="left")
                parts.append(known.assign(**{CUTOFF: cutoff}))
        validation = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[ID, DS, CUTOFF, Y])
        for name in members:
            if name not in validation:
                validation[name] = np.nan
        for m in members.values():
            m.fit(df, horizon=self.horizon_)
        self._set(members, validation)

    @classmethod
    def from_members(
        cls, fitted: dict[str, Forecaster], validation: pd.DataFrame, *, alias: str | None = None, **params: Any
    ) -> Blend:
        """A fitted blend from fitted members and their forecasts on earlier windows
        (`unique_id, cutoff, ds, y` + the members' columns, only weeks known at the fit)."""
        blend = cls(alias=alias, **params)
        first = next(iter(fitted.values()))
        blend.last_ds_ = first.last_ds_
        blend.n_series_ = len(blend.last_ds_)
        horizons = [m.horizon_ for m in fitted.values() if getattr(m, "horizon_", None)]
        blend.horizon_ = min(horizons) if horizons else None
        blend._set(fitted, validation)
        blend.fitted_ = True
        return blend

    def _set(self, members: dict[str, Forecaster], validation: pd.DataFrame) -> None:
        s = self.settings
        self.members_ = members
        self.weights_, self.global_weights_ = learn_weights(
            validation, list(members), grid_step=s.grid_step, min_points=s.min_points,
            shrinkage=s.shrinkage, objective=s.objective, horizon_buckets=s.horizon_buckets,
        )
        self.shrinkage_ = self.weights_.attrs.get("shrinkage")
        self.width_factors_: dict[str, float] = {}
        if s.calibrate:
            self.width_factors_ = calibrate_widths(
                validation, list(members), self.weights_, self.global_weights_, horizon_buckets=s.horizon_buckets
            )

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        preds = None
        for m in self.members_.values():
            fc = m.predict(h=h, quantiles=quantiles)
            preds = fc if preds is None else preds.merge(fc, on=[ID, DS], how="outer")
        preds[STEP] = ((preds[DS] - self.last_ds_.reindex(preds[ID]).to_numpy()) // WEEK).astype("int64")
        out = combine(
            preds, list(self.members_), self.weights_, self.global_weights_, quantiles,
            name=self.alias, horizon_buckets=self.settings.horizon_buckets,
        )
        return apply_widths(out, self.alias, quantiles, getattr(self, "width_factors_", {}))
