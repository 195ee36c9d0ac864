"""Decision replay: what `/v1/allocate`'s newsvendor would have cost at every evaluation origin.

At each evaluation cutoff, for the blend and each member, every item's demand over the next
`period` weeks (1 and 4 by default) is given to `training.allocation.newsvendor` with a capacity
of a fraction (50/80/100/120%) of the realized total and an underage/overage cost ratio cu/co
(1, 4, 9; co = 1); the allocation then meets the realized demand:

* cost = sum_i cu (D_i - x_i)+ + co (x_i - D_i)+;
* hindsight = the best cost knowing D: cu * max(sum D - capacity, 0) (the demand that cannot fit);
* regret = cost - hindsight. Both are reported per unit of realized demand (summed over cutoffs).

The period's demand distribution comes two ways:

* `sum`: the weekly quantiles added level by level (the weeks moving together perfectly);
* `paths`: sample paths of the probability levels the actuals took at earlier origins
  (`training.periods`, only weeks closed before the cutoff), through this cutoff's weekly
  quantile functions (`training.allocation.period_quantiles`); periods of two weeks or more
  only (a one-week period is the forecast itself, as the service allocates it).

`coverage` gives, per model, period and method, the share of realized period totals at or below
the predicted quantile at the levels allocation uses (critical ratios 0.5, 0.8, 0.9 and the
tails), and the coverage of the central 80% and 98% intervals: a calibrated distribution gives
each level back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y
from training.allocation import Demand, grid_levels, newsvendor
from training.periods import PathBank, model_levels, path_bank

PERIODS = (1, 4)
CAPACITY_FRACTIONS = (0.5, 0.8, 1.0, 1.2)
COST_RATIOS = (1.0, 4.0, 9.0)
COVERAGE_LEVELS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.99)
INTERVALS = {"80": (0.1, 0.9), "98": (0.01, 0.99)}
METHODS = ("sum", "paths")
OUT_LEVELS = grid_levels(100)  # the served grid's default


def _weekly(frame: pd.DataFrame, cols: list[str], period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items with a forecast for every step and the first `period` actuals known: ids, weekly
    quantiles of the whole horizon (n, h, L), realized totals of the period (n,)."""
    f = frame.assign(_step=((frame[DS] - frame[CUTOFF]) // WEEK).astype("int64"))
    f = f[f["_step"] >= 1].dropna(subset=cols)
    h = int(f["_step"].max()) if len(f) else 0
    known = f[Y].notna() & (f["_step"] <= period)
    ok = (f.groupby(ID)["_step"].transform("nunique") == h) & (known.groupby(f[ID]).transform("sum") == period)
    f = f[ok & (h >= period)].sort_values([ID, "_step"], kind="stable")
    ids = f[ID].unique()
    q = f[cols].to_numpy(dtype="float64").reshape(len(ids), h, len(cols))
    y = f[Y].to_numpy(dtype="float64").reshape(len(ids), h)
    return ids, q, y[:, :period].sum(axis=1)


def period_demand(
    weekly: np.ndarray, levels: np.ndarray, period: int, method: str, bank: PathBank | None
) -> Demand:
    """The distribution of each item's total over the first `period` weeks of `weekly`
    (n, weeks, levels): the level-by-level sum, or through the bank's paths."""
    if method == "sum" or bank is None or len(bank) == 0:
        return Demand(weekly[:, :period].sum(axis=1), levels)
    q = bank.period_quantiles(weekly, levels, OUT_LEVELS, weeks=period)[:, period - 1]
    return Demand(q, OUT_LEVELS)


def realized_cost(x: np.ndarray, demand: np.ndarray, cu: float, co: float) -> float:
    return float((cu * np.maximum(demand - x, 0.0) + co * np.maximum(x - demand, 0.0)).sum())


def replay(
    forecasts: pd.DataFrame, models: Sequence[str], eval_cutoffs: Sequence[pd.Timestamp], *,
    periods: Sequence[int] = PERIODS, capacities: Sequence[float] = CAPACITY_FRACTIONS,
    cost_ratios: Sequence[float] = COST_RATIOS, seed: int = 0,
) -> dict[str, Any]:
    """Cost and regret of the newsvendor per (model, period, capacity, cost ratio, method),
    and the coverage of period totals; see the module docstring."""
    rows: list[dict[str, Any]] = []
    hits: dict[tuple, list[np.ndarray]] = {}
    quantiled = {m: model_levels(forecasts.columns, m) for m in models if m in forecasts}
    quantiled = {m: lc for m, lc in quantiled.items() if len(lc[0]) >= 2}
    for cutoff in sorted(pd.Timestamp(c) for c in eval_cutoffs):
        at = forecasts[forecasts[CUTOFF] == cutoff]
        for model, (levels, cols) in quantiled.items():
            bank = path_bank(forecasts, model, known_at=cutoff, seed=seed)
            for period in periods:
                ids, weekly, totals = _weekly(at, cols, period)
                if not len(ids) or totals.sum() <= 0:
                    continue
                for method in METHODS:
                    if method == "paths" and (period < 2 or not np.isfinite(bank.paths[:, :period]).all(axis=1).any()):
                        continue
                    demand = period_demand(weekly, levels, period, method, bank)
                    key = (model, period, method)
                    q = np.column_stack([demand.quantile(t) for t in _levels()])
                    hits.setdefault(key, []).append(np.column_stack([totals, q]))
                    for frac in capacities:
                        cap = frac * float(totals.sum())
                        for ratio in cost_ratios:
                            res = newsvendor(demand, cap, underage_cost=ratio, overage_cost=1.0)
                            cost = realized_cost(res.quantity, totals, ratio, 1.0)
                            rows.append({
                                "model": model, "period": period, "method": method, "capacity": frac,
                                "cost_ratio": ratio, "cutoff": str(cutoff.date()), "items": len(ids),
                                "demand": float(totals.sum()), "cost": cost,
                                "hindsight": ratio * max(float(totals.sum()) - cap, 0.0),
                            })
    return {"scenarios": _summarize(rows), "coverage": _coverage(hits), "periods": list(periods),
            "capacities": list(capacities), "cost_ratios": list(cost_ratios)}


def _levels() -> list[float]:
    return sorted({*COVERAGE_LEVELS, *(q for pair in INTERVALS.values() for q in pair)})


def _summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
    df = pd.DataFrame(rows)
    g = df.groupby(["model", "period", "method", "capacity", "cost_ratio"], sort=True).agg(
        demand=("demand", "sum"), cost=("cost", "sum"), hindsight=("hindsight", "sum"),
        cutoffs=("cutoff", "nunique"), items=("items", "mean"),
    ).reset_index()
    g["cost_per_unit"] = g["cost"] / g["demand"]
    g["regret_per_unit"] = (g["cost"] - g["hindsight"]) / g["demand"]
    return g.to_dict(orient="records")


def _coverage(hits: dict[tuple, list[np.ndarray]]) -> list[dict[str, Any]]:
    levels = _levels()
    out = []
    for (model, period, method), parts in sorted(hits.items()):
        a = np.vstack(parts)
        y, q = a[:, 0], dict(zip(levels, a[:, 1:].T, strict=True))
        row: dict[str, Any] = {"model": model, "period": period, "method": method, "n": len(y)}
        row["below"] = {f"{t:g}": float(np.mean(y <= q[t])) for t in COVERAGE_LEVELS}
        for name, (lo, hi) in INTERVALS.items():  # closed, as coverage_80 in training.metrics
            row[f"interval_{name}"] = float(np.mean((y >= q[lo]) & (y <= q[hi])))
        out.append(row)
    return out


__all__ = ["CAPACITY_FRACTIONS", "COST_RATIOS", "PERIODS", "period_demand", "realized_cost", "replay"]
