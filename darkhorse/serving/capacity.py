"""Replica plans from load forecasts, and the two plans a platform team runs without one.
Pure numpy: no I/O, no service.

Time runs in intervals t = 0, 1, ... of one grain. A controller acts at the start of each
interval; a replica it starts serves `lead` intervals later, so the capacity of interval t is
decided at the start of t - lead, when the last closed interval is t - lead - 1. Each plan
gives `replicas[t]` for every interval:

* `forecast_plan`: replicas = ceil(q_tau(load_t) / throughput) within [min, max], where
  q_tau is read from the interval's forecast distribution made at its decision time (the
  caller hands in, for each t, the forecast of horizon lead + 1 made after interval
  t - lead - 1 closed). The expected number of intervals over capacity is the sum of
  P(load_t > capacity_t) under those distributions (the piecewise-linear quantile function of
  `allocation.Demand`).
* `reactive_plan`: a target-tracking autoscaler: replicas = ceil(last observed load /
  (throughput x target utilisation)), with the same lead (it sees interval t - lead - 1).
* `static_plan`: one constant count for the whole horizon, sized to the peak load seen before
  it starts.

All three go through the same scale-down cooldown: capacity goes up whenever a plan asks, and
comes down only when the count has held for `cooldown` intervals since the last change.
`evaluate` scores a plan against the load that happened: intervals over capacity (SLO
violations), replica-hours and scaling actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from darkhorse.core.errors import DarkHorseError
from darkhorse.serving.allocation import Demand


class CapacityError(DarkHorseError, ValueError):
    """A plan cannot be made from these inputs; `field` names the offending one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PlanSettings:
    """How load becomes replicas (config: `load.plan`)."""

    throughput: float  # load one replica serves in one interval
    quantile: float = 0.95
    min_replicas: int = 1
    max_replicas: int = 1000
    lead: int = 1
    cooldown: int = 0
    target_utilisation: float = 0.7

    def __post_init__(self) -> None:
        checks = (
            ("throughput", self.throughput > 0, "must be positive"),
            ("quantile", 0 < self.quantile < 1, "must lie in (0, 1)"),
            ("min_replicas", self.min_replicas >= 0, "must be >= 0"),
            ("max_replicas", self.max_replicas >= max(self.min_replicas, 1), "must be >= min_replicas and >= 1"),
            ("lead", self.lead >= 0, "must be >= 0"),
            ("cooldown", self.cooldown >= 0, "must be >= 0"),
            ("target_utilisation", 0 < self.target_utilisation <= 1, "must lie in (0, 1]"),
        )
        for name, ok, why in checks:
            if not ok:
                raise CapacityError(f"plan setting {name}={getattr(self, name)!r} {why}", name)


@dataclass(frozen=True)
class Plan:
    """Replicas per interval, with what the plan expected of itself."""

    replicas: np.ndarray  # int64, one per interval
    throughput: float
    expected_over_capacity: float | None = None  # sum of P(load > capacity); forecast plans only
    p_over_capacity: np.ndarray | None = None  # per interval; forecast plans only

    @property
    def capacity(self) -> np.ndarray:
        return self.replicas * self.throughput


@dataclass(frozen=True)
class Outcome:
    """A plan against the load that happened."""

    violations: int  # intervals whose load exceeded capacity
    replica_hours: float
    scaling_actions: int  # intervals whose count differs from the one before
    mean_utilisation: float  # served load / capacity (load capped at capacity), intervals with capacity


def _clip(raw: np.ndarray, s: PlanSettings) -> np.ndarray:
    return np.clip(raw, s.min_replicas, s.max_replicas).astype("int64")


# Relative rounding slack: ceil(300 / 100) stays 3 when the division lands at 3.0000000001, and
# a load above capacity by no more than this share is not a violation (the plan's own rounding).
REL_TOL = 1e-9


def _needed(load: np.ndarray, per_replica: float) -> np.ndarray:
    # any positive load still needs a replica
    ratio = np.asarray(load, dtype="float64") / per_replica
    return np.ceil(ratio * (1 - REL_TOL))


def apply_cooldown(desired: np.ndarray, cooldown: int, initial: int | None = None) -> np.ndarray:
    """Follow `desired` upward at once; downward only after `cooldown` intervals at the current
    count. `initial`: the count in force before the first interval (None: the first desired,
    which then counts as the last change, made before interval 0)."""
    desired = np.asarray(desired, dtype="int64")
    out = np.empty_like(desired)
    if desired.size == 0:
        return out
    current = int(desired[0] if initial is None else initial)
    held = 0  # intervals since the last change (the change before interval 0 counts as one)
    for t, want in enumerate(desired):
        if want > current or (want < current and held >= cooldown):
            current = int(want)
            held = 0
        out[t] = current
        held += 1
    return out


def forecast_plan(
    levels: np.ndarray,
    quantiles: np.ndarray,
    settings: PlanSettings,
    *,
    initial: int | None = None,
) -> Plan:
    """Replicas from the forecast distribution of each interval's load.

    `quantiles[t, k]`: the load forecast of interval t at `levels[k]`, made at t's decision
    time. The plan's quantile need not be one of the levels: the quantile function is
    interpolated (allocation.Demand).
    """
    q = np.asarray(quantiles, dtype="float64")
    if q.ndim != 2 or q.shape[0] == 0:
        raise CapacityError(f"quantiles must be (intervals, levels) with intervals >= 1; got {q.shape}", "quantiles")
    try:
        demand = Demand(values=q, levels=np.asarray(levels, dtype="float64"))
    except ValueError as e:
        raise CapacityError(f"load forecast: {e}", "quantiles") from None
    target = demand.quantile(settings.quantile)
    replicas = apply_cooldown(_clip(_needed(target, settings.throughput), settings), settings.cooldown, initial)
    p_over = 1.0 - demand.cdf(replicas * settings.throughput)
    return Plan(replicas, settings.throughput, float(p_over.sum()), p_over)


def reactive_plan(
    observed: np.ndarray, settings: PlanSettings, *, history: np.ndarray | None = None
) -> Plan:
    """A target-tracking autoscaler over the intervals of `observed` (the load that happened).

    Interval t gets ceil(load[t - lead - 1] / (throughput x target utilisation)); the loads
    before the first interval come from the end of `history` (without it, the first lead + 1
    intervals get the first observed interval's count, as if the scaler had been warmed up).
    """
    obs = np.asarray(observed, dtype="float64")
    if obs.ndim != 1 or obs.size == 0:
        raise CapacityError("observed load must be a non-empty 1-d array", "observed")
    past = np.asarray(history if history is not None else obs[:1], dtype="float64")
    if past.size == 0:
        raise CapacityError("history must hold at least one interval", "history")
    lag = settings.lead + 1
    padded = np.concatenate([np.full(max(lag - past.size, 0), past[0]), past[-lag:], obs])
    seen = padded[-obs.size - lag : padded.size - lag]
    desired = _clip(_needed(seen, settings.throughput * settings.target_utilisation), settings)
    initial = int(desired[0])
    return Plan(apply_cooldown(desired, settings.cooldown, initial), settings.throughput)


def static_plan(history: np.ndarray, n_intervals: int, settings: PlanSettings) -> Plan:
    """The historical peak's count, held for `n_intervals` intervals."""
    past = np.asarray(history, dtype="float64")
    if past.size == 0:
        raise CapacityError("history must hold at least one interval", "history")
    count = _clip(_needed(np.array([past.max()]), settings.throughput), settings)[0]
    return Plan(np.full(int(n_intervals), count, dtype="int64"), settings.throughput)


def evaluate(plan: Plan, load: np.ndarray, *, interval_hours: float) -> Outcome:
    """Score a plan against the load that happened (same intervals, same order). An interval is
    a violation when its load exceeds capacity by more than the planner's rounding slack
    (`REL_TOL`), so a plan is never charged for the float noise its own rounding forgave."""
    load = np.asarray(load, dtype="float64")
    if load.shape != plan.replicas.shape:
        raise CapacityError(
            f"load has {load.shape} intervals, the plan {plan.replicas.shape}", "load"
        )
    cap = plan.capacity
    served = cap > 0
    util = float(np.mean(np.minimum(load[served] / cap[served], 1.0))) if served.any() else 0.0
    return Outcome(
        violations=int((load * (1 - REL_TOL) > cap).sum()),
        replica_hours=float(plan.replicas.sum() * interval_hours),
        scaling_actions=int((np.diff(plan.replicas) != 0).sum()),
        mean_utilisation=util,
    )
