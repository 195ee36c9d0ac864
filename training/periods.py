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

Paths are kept per stratum of the forecast's size: the mean weekly median over the horizon
of the forecast the path was read from (`STRATA`: below 0.25, 0.25-1, 1-4, 4-16, above 16
units a week). Sparse items and steady sellers err differently; an item takes the paths of its
own stratum (all paths when its stratum holds fewer than `MIN_STRATUM` of them): pooled over
every item, the levels of sparse items would move the medians of steady ones.

Only paths whose weeks are closed at the moment of use count (`known_at`): the backtest's
decision replay estimates them from earlier origins only, and the release from every backtest
origin. An actual above a forecast's top (its quantile function extended linearly to level 1)
gets a level above 1: how far above, in units of the last segment's slope (capped at
`MAX_LEVEL`), so a week that beat every quantile carries its surprise to the next forecast's
scale instead of being cut at its top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y
from training.allocation import Demand, period_quantiles
from training.metrics import pair_codes

_LEVEL = re.compile(r"-q(\d+)$")
MAX_PATHS = 1000  # per stratum
MAX_LEVEL = 3.0
STRATA = (0.25, 1.0, 4.0, 16.0)
MIN_STRATUM = 200


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
    when the forecast is calibrated; above 1 past the top, see the module docstring)."""
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


def median_level(weekly: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Mean weekly median of each item's forecast (`weekly`: items x weeks x levels)."""
    w = np.asarray(weekly, dtype="float64")
    return np.nanmean(Demand(w.reshape(-1, w.shape[-1]), levels).quantile(0.5).reshape(w.shape[:-1]), axis=1)


@dataclass(frozen=True)
class PathBank:
    """Sample paths (`paths[s, t]`, NaN where unknown) and the stratum each was read in."""

    paths: np.ndarray
    stratum: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def for_stratum(self, s: int, weeks: int | None = None) -> np.ndarray:
        """The paths of stratum `s` known through `weeks` (all of them when too few)."""
        whole = np.isfinite(self.paths[:, : (weeks or self.paths.shape[1])]).all(axis=1)
        own = self.paths[whole & (self.stratum == s)]
        return own if len(own) >= MIN_STRATUM else self.paths[whole]

    def period_quantiles(
        self, weekly: np.ndarray, levels: np.ndarray, out_levels: np.ndarray, *, weeks: int | None = None
    ) -> np.ndarray:
        """`training.allocation.period_quantiles` with each item's own stratum's paths, for
        the first `weeks` weeks (all by default); the stratum reads the whole forecast."""
        strata = stratum_of(median_level(weekly, levels))
        w = weekly.shape[1] if weeks is None else weeks
        paths = self.paths[:, :w]
        if paths.shape[1] < w:  # weeks no path has reached yet
            paths = np.pad(paths, ((0, 0), (0, w - paths.shape[1])), constant_values=np.nan)
        bank = PathBank(paths, self.stratum)
        out = np.empty((weekly.shape[0], w, len(out_levels)))
        for s in np.unique(strata):
            m = strata == s
            out[m] = period_quantiles(weekly[m][:, :w], levels, bank.for_stratum(int(s), w), out_levels)
        return out


def stratum_of(level: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(STRATA), np.nan_to_num(np.asarray(level, dtype="float64")), side="right")


def path_bank(
    forecasts: pd.DataFrame, model: str, *, horizon: int | None = None, known_at: pd.Timestamp | None = None,
    seed: int = 0, max_paths: int = MAX_PATHS,
) -> PathBank:
    """The levels the actuals took, one path per (series, origin), NaN for steps not known at
    `known_at` (every step with an actual when None); at most `max_paths` per stratum (a
    fixed-seed sample). A path's stratum comes from its origin's whole forecast."""
    levels, cols = model_levels(forecasts.columns, model)
    if len(levels) < 2:
        raise ValueError(f"forecasts have fewer than two quantile columns for {model!r}")
    med = Demand(forecasts[cols].fillna(0.0).to_numpy(dtype="float64"), levels).quantile(0.5)
    size = pd.Series(med, index=forecasts.index).groupby([forecasts[ID], forecasts[CUTOFF]]).mean()
    f = forecasts[forecasts[Y].notna()]
    if known_at is not None:
        f = f[(f[CUTOFF] < known_at) & (f[DS] <= known_at)]
    f = f.dropna(subset=cols)
    step = ((f[DS] - f[CUTOFF]) // WEEK).astype("int64").to_numpy()
    h = int(horizon or (step.max() if len(step) else 1))
    keep = (step >= 1) & (step <= h)
    f, step = f[keep], step[keep]
    if f.empty:
        return PathBank(np.empty((0, h)), np.empty(0, dtype="int64"))
    rng = np.random.default_rng(seed)
    u = pit(f[cols].to_numpy(dtype="float64"), levels, f[Y].to_numpy(dtype="float64"), rng)
    ids, cuts = f[ID].to_numpy(), f[CUTOFF].to_numpy()
    codes = pair_codes(ids, cuts)
    first = np.unique(codes, return_index=True)[1]  # each pair's first row, in code order
    uniques = pd.MultiIndex.from_arrays([ids[first], cuts[first]])
    paths = np.full((codes.max() + 1, h), np.nan)
    paths[codes, step - 1] = u
    strata = stratum_of(size.reindex(uniques).to_numpy())
    ok = np.isfinite(paths[:, 0])  # a path counts up to its first unknown step
    paths, strata = paths[ok], strata[ok]
    keep_rows = []
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        if len(rows) > max_paths:
            rows = np.sort(rng.choice(rows, max_paths, replace=False))
        keep_rows.append(rows)
    rows = np.sort(np.concatenate(keep_rows))
    return PathBank(paths[rows], strata[rows])


__all__ = ["MAX_LEVEL", "MAX_PATHS", "MIN_STRATUM", "STRATA", "PathBank", "median_level", "model_levels",
           "path_bank", "pit", "stratum_of"]
