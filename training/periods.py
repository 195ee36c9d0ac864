"""The distribution of a period's total (several weeks) from the paths the backtest realized.

A weekly forecast gives each week's quantile function Q_t; the total of weeks 1..w is not the
sum of their quantiles at one level (that assumes the weeks move together, perfectly). What
the weeks did together is in the backtest: at every origin and series, the actual of step t
sits at a probability level u_t = F_t(y_t) of that week's forecast (its PIT; for discrete
demand on a flat stretch of Q_t, drawn uniformly over the stretch, with a fixed seed). The
vector (u_1, ..., u_H) of one (series, origin) is a sample path: it carries the cross-step
dependence (a slow month stays slow) and the forecaster's realized calibration (intervals that
were too wide give levels bunched around the median). A new forecast's period total is then
sampled as sum_t Q_t(u_t) over the stored paths (`training.allocation.period_quantiles`).

Paths are pooled over series. Only paths whose weeks are closed at the moment of use count
(`known_at`): the backtest's decision replay estimates them from earlier origins only, and the
release from every backtest origin. An actual above a forecast's top (its quantile function
extended linearly to level 1) gets a level above 1: how far above, in units of the last
segment's slope (capped at `MAX_LEVEL`), so a week that beat every quantile carries its
surprise to the next forecast's scale instead of being cut at its top.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, WEEK, Y
from training.allocation import Demand

_LEVEL = re.compile(r"-q(\d+)$")
MAX_PATHS = 2000
MAX_LEVEL = 3.0


def model_levels(columns, model: str) -> tuple[np.ndarray, list[str]]:
    """The quantile levels of `model` in a forecast frame, sorted, with their columns."""
    found = sorted(
        (int(m.group(1)) / 100, c) for c in columns
        if str(c).startswith(f"{model}-q") and (m := _LEVEL.search(str(c))) and str(c) == f"{model}-q{m.group(1)}"
    )
    return np.array([q for q, _ in found]), [c for _, c in found]


def pit(values: np.ndarray, levels: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Level of each actual `y[i]` in its piecewise-linear quantile function `values[i]`
    (randomized over a flat stretch, so that a discrete actual still gives a uniform level
    when the forecast is calibrated)."""
    d = Demand(values, levels)
    y = np.asarray(y, dtype="float64")
    hi = d.cdf(y)
    lo = d.cdf(y - 1e-9 * (1.0 + np.abs(y)))
    u = lo + rng.random(len(y)) * np.maximum(hi - lo, 0.0)
    top, last = d._knots[:, -1], d._knots[:, -2]
    slope = (top - last) / (1.0 - d.levels[-1])
    above = (y > top) & (slope > 0)
    u[above] = np.minimum(1.0 + (y[above] - top[above]) / slope[above], MAX_LEVEL)
    return u


def pit_paths(
    forecasts: pd.DataFrame, model: str, *, horizon: int | None = None, known_at: pd.Timestamp | None = None,
    seed: int = 0, max_paths: int = MAX_PATHS,
) -> np.ndarray:
    """`(paths, horizon)` probability levels the actuals took, one row per (series, origin),
    NaN for steps not known at `known_at` (every step with an actual when None). At most
    `max_paths` rows (a fixed-seed sample)."""
    levels, cols = model_levels(forecasts.columns, model)
    if len(levels) < 2:
        raise ValueError(f"forecasts have fewer than two quantile columns for {model!r}")
    f = forecasts[forecasts[Y].notna()]
    if known_at is not None:
        f = f[(f[CUTOFF] < known_at) & (f[DS] <= known_at)]
    f = f.dropna(subset=cols)
    step = ((f[DS] - f[CUTOFF]) // WEEK).astype("int64").to_numpy()
    h = int(horizon or (step.max() if len(step) else 1))
    keep = (step >= 1) & (step <= h)
    f, step = f[keep], step[keep]
    if f.empty:
        return np.empty((0, h))
    rng = np.random.default_rng(seed)
    u = pit(f[cols].to_numpy(dtype="float64"), levels, f[Y].to_numpy(dtype="float64"), rng)
    key = pd.MultiIndex.from_arrays([f["unique_id"].to_numpy(), f[CUTOFF].to_numpy()])
    codes, _ = pd.factorize(key)
    paths = np.full((codes.max() + 1, h), np.nan)
    paths[codes, step - 1] = u
    paths = paths[np.isfinite(paths[:, 0])]  # a path counts up to its first unknown step
    if len(paths) > max_paths:
        paths = paths[np.sort(rng.choice(len(paths), max_paths, replace=False))]
    return paths


__all__ = ["MAX_LEVEL", "MAX_PATHS", "model_levels", "pit", "pit_paths"]
