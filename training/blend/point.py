"""The blended point forecast takes one factor (`point_factor="checked"`, POINT_FACTORS) for a bias
every member shares: the factor with the lowest loss on the blend's own held-out forecasts
(`held_points`), kept only when the factor learned before each of the latest POINT_CHECKS
held-out cutoffs beat the unscaled blend on that cutoff by ONE_SE; else 1. Quantiles stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    Y,
)
from training.blend.weights import ONE_SE, _loss, _series_mean_loss

# factors of the blend's point forecast for a bias of every member alike (multiplied in, 0.70 to 1.30)
POINT_FACTORS = np.round(np.arange(0.70, 1.301, 0.02), 2)
# held-out cutoffs the factor is checked on, each with the factor learned before it. Three: on
# 52-week panels the validation origins hold 7 to 20 weeks of history, and with two checks a
# factor of 0.74 learned there passed both (by 1.4 and 1.2 s.e.) and lost at the next origin on
# two of three weekly-sales draws with a random group in their ids (docs/accuracy-decisions.md,
# "Three checks for the point factor"); with three it fails its first check there, and on
# twenty-one stored panels nothing else changes
POINT_CHECKS = 3


def held_points(
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], choice: float | str, models: Sequence[str],
) -> pd.DataFrame:
    """The blend's point forecasts on the time-ordered held-out cutoffs (the `choice`
    candidate's weights, learned on the cutoffs before each): `unique_id, cutoff, ds, y, scale,
    pred`, rows with a positive naive scale only (as MASE counts them)."""
    parts = []
    for rows, ws in held:
        if choice not in ws or "scale" not in rows:
            continue
        P = rows[list(models)].to_numpy(dtype="float64")
        part = rows[[ID, CUTOFF, DS, Y, "scale"]].assign(pred=(P * ws[choice]).sum(axis=1))
        parts.append(part[part["scale"].to_numpy(dtype="float64") > 0])
    if not parts:
        return pd.DataFrame(columns=[ID, CUTOFF, DS, Y, "scale", "pred"])
    return pd.concat(parts, ignore_index=True)


def _factor_losses(rows: pd.DataFrame, factors: np.ndarray, objective: str) -> np.ndarray:
    """Mean loss (the weights' objective: scaled absolute error or SMAPE) per (series, cutoff)
    of `rows`' `pred` times each factor (series-cutoffs x factors)."""
    y = rows[Y].to_numpy(dtype="float64")
    pred = rows["pred"].to_numpy(dtype="float64")[:, None] * factors[None, :]
    return _series_mean_loss(rows, _loss(y, pred, objective, rows["scale"].to_numpy(dtype="float64")))


def best_point_factor(rows: pd.DataFrame, objective: str = "mae") -> float:
    """The factor of POINT_FACTORS with the lowest mean loss per (series, cutoff) of `rows`'
    `pred` (`unique_id, cutoff, y, scale, pred`), unchecked."""
    return float(POINT_FACTORS[int(np.argmin(_factor_losses(rows, POINT_FACTORS, objective).mean(axis=0)))])


def point_factor(
    points: pd.DataFrame, n_check: int = POINT_CHECKS, objective: str = "mae",
) -> tuple[float, list[dict[str, float]]]:
    """One factor for the blend's point forecast, for a bias its weights cannot undo (every
    member too high on intermittent series, say): the factor of POINT_FACTORS with the lowest
    mean loss (`objective`, as the weights') on every held-out point (`held_points`), kept only when, at each of the
    latest `n_check` held-out cutoffs, the factor learned on the points known before it beat
    the unscaled blend on that cutoff's points by more than ONE_SE standard errors of their
    paired per-series differences; else 1. Returns the factor and each check (its cutoff,
    the factor learned before it, the mean gain and its standard error)."""
    cutoffs = np.sort(points[CUTOFF].unique()) if len(points) else np.array([])
    if len(cutoffs) < n_check + 1:
        return 1.0, []
    checks = []
    for last in cutoffs[-n_check:]:
        early = points[(points[CUTOFF] < last) & (points[DS] <= last)]
        late = points[points[CUTOFF] == last]
        if early.empty or late.empty:
            return 1.0, checks
        f = best_point_factor(early, objective)
        losses = _factor_losses(late, np.array([1.0, f]), objective)
        d = losses[:, 0] - losses[:, 1]  # > 0 where the factor did better
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
        checks.append({"cutoff": str(pd.Timestamp(last).date()), "factor": f, "gain": float(d.mean()), "se": se})
        if not d.mean() > ONE_SE * se:
            return 1.0, checks
    return best_point_factor(points, objective), checks
