"""Capacity allocation from forecast demand distributions. Pure numpy: no I/O, no service.

Every item's demand over the planning period is a distribution given by its quantiles at
`levels` (by default the midpoints of K equal-probability bins, `grid_levels`). The quantile
function is piecewise linear through those points, starts at 0 at level 0 (demand is never
negative) and is extended linearly to level 1. Expectations (mean, expected shortfall and
leftover) are exact integrals of that piecewise-linear quantile function.

Modes (each respects per-item minimum and maximum and never allocates more than the capacity):

* `newsvendor`: the capacity-constrained multi-item newsvendor. Without a capacity limit an
  item gets its critical-ratio quantile Q(cu / (cu + co)). With one, a Lagrange multiplier λ
  on the capacity lowers every item's ratio to (cu - λ·w) / (cu + co); λ is found by bisection
  so the total meets the capacity. λ is the shadow price: the expected cost saved by one more
  unit of capacity (when the capacity equals the minimums, the value of the next unit, not an
  end of the search bracket); each item's `target_level` is the level it is allocated at,
  (cu - λ·w) / (cu + co), not the unconstrained ratio.
* `fair_share`: under scarcity every item gets the same fraction θ of its expected demand
  (θ <= 1: never more than the demand), for when there is no cost to rank items by.
* `service_level`: every item at its target quantile τ (safety stock = Q(τ) - Q(0.5)); when
  the capacity cannot hold that, the targets are capped at one common level, the highest that
  fits.
* `balance`: whole items (shards, tenants, SKUs) are assigned to N nodes so that the largest
  node load, measured at a headroom quantile, is as small as possible (longest-processing-time
  first: each item, largest first, to the node where it raises the utilisation least).

Totals over several weeks or items: the sum of their quantiles at one level is the quantile
of the total only when they move together (comonotone). It is not a safe side: above the
median it usually gives more than the total's quantile, below the median less (two independent
U(0, 1) weeks: the total's 25% quantile is 0.707, the sum of the 25% quantiles 0.5). A period's
distribution should come from sample paths (`period_quantiles`: weekly quantile functions
evaluated along paths of probability levels, for example the PIT paths the backtest realized,
`training.periods`); `balance` still adds its items' quantiles level by level.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from darkhorse.core.errors import DarkHorseError

Mode = Literal["newsvendor", "fair_share", "service_level", "balance"]

_BISECT_STEPS = 100


class AllocationError(DarkHorseError, ValueError):
    """The request cannot be allocated; `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def grid_levels(k: int = 100) -> np.ndarray:
    """Midpoints of k equal-probability bins: 0.5/k, 1.5/k, ..., 1 - 0.5/k."""
    if k < 2:
        raise ValueError("k must be at least 2")
    return (np.arange(k) + 0.5) / k


def _knots(values: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(tau, knots)` of the piecewise-linear quantile functions through `values[..., k]` at
    `levels[k]`: made non-negative and non-crossing, 0 at level 0, extended linearly to level 1."""
    v = np.maximum.accumulate(np.maximum(values, 0.0), axis=-1)
    top = v[..., -1] + (v[..., -1] - v[..., -2]) * (1 - levels[-1]) / (levels[-1] - levels[-2])
    knots = np.concatenate([np.zeros((*v.shape[:-1], 1)), v, top[..., None]], axis=-1)
    return np.concatenate([[0.0], levels, [1.0]]), knots


def period_quantiles(
    weekly: np.ndarray, levels: np.ndarray, paths: np.ndarray, out_levels: np.ndarray | None = None,
    *, chunk: int = 256,
) -> np.ndarray:
    """Quantiles of every item's total over its first w weeks, for every w, from sample paths.

    `weekly[i, t, k]`: item i's week-t quantile at `levels[k]`; `paths[s, t]`: path s's
    probability level in week t (NaN where the path is unknown: a path is used for the totals
    up to its first unknown week). A level above 1 continues the quantile function past its
    top with the slope of its last segment (an actual above every quantile, `training.periods`).
    Each path gives the total sum_t Q_it(paths[s, t]); the result `[i, w - 1, k]` is the
    level-`out_levels[k]` quantile (default `levels`) of those totals over the first w weeks.
    Comonotone paths (u, u, ..., u) give the sum of the weekly quantiles; independent weeks
    give narrower totals.
    """
    weekly = np.asarray(weekly, dtype="float64")
    levels = np.asarray(levels, dtype="float64")
    out = levels if out_levels is None else np.asarray(out_levels, dtype="float64")
    paths = np.asarray(paths, dtype="float64")
    n, h, _ = weekly.shape
    if paths.ndim != 2 or paths.shape[1] < h:
        raise ValueError(f"paths must be (samples, >= {h} weeks); got {paths.shape}")
    paths = paths[:, :h]
    tau, knots = _knots(weekly, levels)
    u = np.maximum(np.nan_to_num(paths, nan=0.5), 0.0)
    j = np.clip(np.searchsorted(tau, u, side="right"), 1, tau.size - 1)  # (S, h); above 1: last segment
    frac = (u - tau[j - 1]) / (tau[j] - tau[j - 1])
    known = np.cumprod(np.isfinite(paths), axis=1).astype(bool)  # path known up to week t
    if not known[:, 0].any():
        raise ValueError("no path has a known first week")
    result = np.empty((n, h, out.size))
    steps = np.arange(h)
    for a in range(0, n, chunk):
        kn = knots[a: a + chunk]  # (c, h, K + 2)
        v0 = kn[:, steps[None, :], j - 1]  # (c, S, h)
        v1 = kn[:, steps[None, :], j]
        totals = np.cumsum(v0 + (v1 - v0) * frac[None], axis=2)
        for w in range(h):
            ok = known[:, w]
            if not ok.any():
                raise ValueError(f"no path reaches week {w + 1}")
            # the linear-interpolation sample quantile (numpy's default), from one sort
            srt = np.sort(totals[:, ok, w], axis=1)
            pos = out * (srt.shape[1] - 1)
            lo = np.floor(pos).astype("int64")
            hi = np.minimum(lo + 1, srt.shape[1] - 1)
            result[a: a + chunk, w] = srt[:, lo] + (srt[:, hi] - srt[:, lo]) * (pos - lo)
    return result


@dataclass(frozen=True)
class Demand:
    """Demand distributions of n items: `values[i, k]` is item i's quantile at `levels[k]`."""

    values: np.ndarray
    levels: np.ndarray = field(default_factory=grid_levels)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype="float64")
        lv = np.asarray(self.levels, dtype="float64")
        if v.ndim != 2 or v.shape[1] != lv.size:
            raise ValueError(f"values must be (items, {lv.size}); got {v.shape}")
        if lv.size < 2 or not (np.all(np.diff(lv) > 0) and lv[0] > 0 and lv[-1] < 1):
            raise ValueError("levels must increase strictly inside (0, 1)")
        if not np.isfinite(v).all():
            raise ValueError("demand quantiles must be finite")
        tau, knots = _knots(v, lv)  # non-negative, non-crossing
        object.__setattr__(self, "values", knots[:, 1:-1])
        object.__setattr__(self, "levels", lv)
        object.__setattr__(self, "_tau", tau)
        object.__setattr__(self, "_knots", knots)

    @property
    def n(self) -> int:
        return self.values.shape[0]

    def mean(self) -> np.ndarray:
        k = self._knots
        return (np.diff(self._tau) * (k[:, :-1] + k[:, 1:]) * 0.5).sum(axis=1)

    def quantile(self, tau: float | np.ndarray) -> np.ndarray:
        """Q_i(tau_i) for every item (tau a scalar or one level per item, in [0, 1])."""
        t = np.clip(np.broadcast_to(np.asarray(tau, dtype="float64"), (self.n,)), 0.0, 1.0)
        j = np.clip(np.searchsorted(self._tau, t, side="right"), 1, self._tau.size - 1)
        t0, t1 = self._tau[j - 1], self._tau[j]
        rows = np.arange(self.n)
        v0, v1 = self._knots[rows, j - 1], self._knots[rows, j]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(D_i <= x_i): the highest level whose quantile is at most x_i."""
        x = np.asarray(x, dtype="float64")
        k = self._knots
        j = (k <= x[:, None]).sum(axis=1)  # knots at or below x (the first knot is 0)
        out = np.where(j == 0, 0.0, 1.0)  # below 0: impossible; above the top knot: certain
        inside = (j > 0) & (j < k.shape[1])
        r = np.flatnonzero(inside)
        jj = j[inside]
        v0, v1 = k[r, jj - 1], k[r, jj]
        t0, t1 = self._tau[jj - 1], self._tau[jj]
        out[inside] = t0 + (t1 - t0) * (x[inside] - v0) / (v1 - v0)
        return out

    def shortfall(self, x: np.ndarray) -> np.ndarray:
        """Expected unmet demand E[(D - x)+] = integral over levels of (Q(u) - x)+."""
        x = np.asarray(x, dtype="float64")[:, None]
        a, b = self._knots[:, :-1], self._knots[:, 1:]  # each segment rises from a to b
        width = np.diff(self._tau)
        above = (a + b) * 0.5 - x  # whole segment above x
        rise = b - a
        # segment crossing x: the part above x is a triangle of base (b - x) / rise * width
        crossing = (a < x) & (b > x)  # implies rise > 0
        partial = np.divide(np.where(crossing, b - x, 0.0) ** 2, 2 * rise, out=np.zeros_like(rise), where=crossing)
        seg = np.where(a >= x, above, partial)
        return np.maximum((seg * width).sum(axis=1), 0.0)

    def leftover(self, x: np.ndarray) -> np.ndarray:
        """Expected unused allocation E[(x - D)+] = x - E[D] + E[(D - x)+]."""
        x = np.asarray(x, dtype="float64")
        return np.maximum(x - self.mean() + self.shortfall(x), 0.0)


@dataclass
class Allocation:
    """Result of one allocation; arrays are per item, in the request's order."""

    mode: str
    quantity: np.ndarray
    service_level: np.ndarray  # P(demand <= allocation), per item (per node for balance)
    expected_shortfall: np.ndarray
    expected_leftover: np.ndarray
    expected_demand: np.ndarray
    capacity: float
    used: float
    binding: bool
    shadow_price: float | None = None
    target_level: np.ndarray | None = None  # level allocated at (newsvendor: ratio after λ)
    safety_stock: np.ndarray | None = None
    share: float | None = None  # fair_share: fraction of demand served
    node: np.ndarray | None = None  # balance: node index per item
    nodes: list[dict] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        """Expected share of total demand that the allocation serves."""
        total = float(self.expected_demand.sum())
        return 1.0 if total <= 0 else float(1.0 - self.expected_shortfall.sum() / total)


def _vector(name: str, value: float | np.ndarray | None, n: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n, default, dtype="float64")
    arr = np.broadcast_to(np.asarray(value, dtype="float64"), (n,)).copy()
    if np.isnan(arr).any():
        raise AllocationError(f"{name} must not be NaN", name)
    return arr


def _unit_cost(n: int, unit_cost) -> np.ndarray:
    w = _vector("unit_cost", unit_cost, n, 1.0)
    if (w <= 0).any() or not np.isfinite(w).all():
        raise AllocationError("unit_cost must be finite and > 0", "unit_cost")
    return w


def _limits(
    n: int, capacity: float, unit_cost, minimum, maximum
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked per-item unit cost, minimum and maximum (`w, lo, hi`) for one capacity."""
    w = _unit_cost(n, unit_cost)
    lo = _vector("min", minimum, n, 0.0)
    hi = _vector("max", maximum, n, np.inf)
    if not np.isfinite(capacity) or capacity < 0:
        raise AllocationError(f"capacity must be a finite number >= 0; got {capacity}", "capacity")
    if (lo < 0).any() or not np.isfinite(lo).all():
        raise AllocationError("min must be finite and >= 0", "min")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        raise AllocationError(f"min exceeds max for item #{int(bad[0])}", "max")
    need = float(w @ lo)
    if need > capacity * (1 + 1e-12):
        raise AllocationError(
            f"capacity {capacity:g} is below the total of the minimum allocations ({need:g})", "capacity"
        )
    return w, lo, hi


def _bisect_decreasing(total, capacity: float, lo: float, hi: float, rtol: float = 1e-9) -> float:
    """A p in [lo, hi] with capacity * (1 - rtol) <= total(p) <= capacity, for total
    continuous and non-increasing in p (total(hi) <= capacity < total(lo) on entry).

    Regula falsi with the Illinois correction (totals are piecewise linear, so it converges
    in a few steps), falling back to halving when an interpolated point leaves the bracket.
    """
    tol = rtol * max(capacity, 1e-300)
    flo, fhi = total(lo) - capacity, total(hi) - capacity
    if fhi >= -tol:
        return hi
    side = 0
    for _ in range(_BISECT_STEPS):
        p = (lo * fhi - hi * flo) / (fhi - flo) if flo != fhi else 0.5 * (lo + hi)
        if not lo < p < hi:
            p = 0.5 * (lo + hi)
        fp = total(p) - capacity
        if fp > 0:
            lo, flo = p, fp
            if side == 1:
                fhi *= 0.5
            side = 1
        else:
            hi, fhi = p, fp
            if fp >= -tol:
                break
            if side == -1:
                flo *= 0.5
            side = -1
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return hi


def _finish(
    mode: str, demand: Demand, x: np.ndarray, capacity: float, used: float, binding: bool, **extra
) -> Allocation:
    return Allocation(
        mode=mode, quantity=x, service_level=demand.cdf(x), expected_shortfall=demand.shortfall(x),
        expected_leftover=demand.leftover(x), expected_demand=demand.mean(), capacity=float(capacity),
        used=used, binding=binding, **extra,
    )


def newsvendor(
    demand: Demand,
    capacity: float,
    *,
    underage_cost: float | np.ndarray | None = None,
    overage_cost: float | np.ndarray | None = None,
    unit_cost: float | np.ndarray | None = None,
    minimum: float | np.ndarray | None = None,
    maximum: float | np.ndarray | None = None,
) -> Allocation:
    """Capacity-constrained multi-item newsvendor (see the module docstring)."""
    n = demand.n
    cu = _vector("underage_cost", underage_cost, n, 1.0)
    co = _vector("overage_cost", overage_cost, n, 1.0)
    if (cu <= 0).any() or (co < 0).any() or not (np.isfinite(cu).all() and np.isfinite(co).all()):
        raise AllocationError("underage_cost must be > 0 and overage_cost >= 0, both finite", "underage_cost")
    w, lo, hi = _limits(n, capacity, unit_cost, minimum, maximum)

    def alloc(lam: float) -> np.ndarray:
        return np.clip(demand.quantile(np.clip((cu - lam * w) / (cu + co), 0.0, 1.0)), lo, hi)

    def total(lam: float) -> float:
        return float(w @ alloc(lam))

    lam = 0.0
    binding = total(0.0) > capacity
    if binding:
        lam = _bisect_decreasing(total, capacity, 0.0, float(np.max(cu / w)))
    x = alloc(lam)
    used = float(w @ x)
    if binding:
        # the shadow price is the expected cost one more unit of capacity saves: the best
        # marginal saving (cu - (cu + co) F(x)) / w over the items that may still grow. Inside
        # a bracket where the total stays at the capacity (every item at its minimum, or on a
        # flat stretch of its quantile function) any lambda of the bracket fits; this is its
        # lower end, the value of the next unit, not the top of the bracket.
        grow = x < hi
        marginal = (cu - (cu + co) * demand.cdf(x)) / w
        lam = float(max(0.0, marginal[grow].max(initial=0.0)))
    # the level each item is allocated at: the critical ratio lowered by the capacity's price
    level = np.clip((cu - lam * w) / (cu + co), 0.0, 1.0)
    return _finish(
        "newsvendor", demand, x, capacity, used, binding, shadow_price=lam, target_level=level
    )


def fair_share(
    demand: Demand,
    capacity: float,
    *,
    unit_cost: float | np.ndarray | None = None,
    minimum: float | np.ndarray | None = None,
    maximum: float | np.ndarray | None = None,
) -> Allocation:
    """Every item gets the same fraction (at most 1) of its expected demand."""
    w, lo, hi = _limits(demand.n, capacity, unit_cost, minimum, maximum)
    mean = demand.mean()

    def alloc(theta: float) -> np.ndarray:
        return np.clip(theta * mean, lo, hi)

    theta = 1.0
    if float(w @ alloc(1.0)) > capacity:
        # total(theta) increases with theta: bisect on 1 - theta, which decreases it
        theta = 1.0 - _bisect_decreasing(lambda p: float(w @ alloc(1.0 - p)), capacity, 0.0, 1.0)
    x = alloc(theta)
    return _finish("fair_share", demand, x, capacity, float(w @ x), theta < 1.0, share=theta)


def service_level(
    demand: Demand,
    capacity: float,
    *,
    level: float | np.ndarray = 0.95,
    unit_cost: float | np.ndarray | None = None,
    minimum: float | np.ndarray | None = None,
    maximum: float | np.ndarray | None = None,
) -> Allocation:
    """Every item at its target quantile; all targets capped at one common level if needed."""
    n = demand.n
    tau = _vector("service_level", level, n, 0.95)
    if ((tau <= 0) | (tau >= 1)).any():
        raise AllocationError("service_level must be strictly between 0 and 1", "service_level")
    w, lo, hi = _limits(n, capacity, unit_cost, minimum, maximum)

    def alloc(cap_level: float) -> np.ndarray:
        return np.clip(demand.quantile(np.minimum(tau, cap_level)), lo, hi)

    top = float(tau.max())
    cap_level = top
    if float(w @ alloc(top)) > capacity:
        cap_level = top - _bisect_decreasing(lambda p: float(w @ alloc(top - p)), capacity, 0.0, top)
    x = alloc(cap_level)
    return _finish(
        "service_level", demand, x, capacity, float(w @ x), cap_level < top,
        target_level=np.minimum(tau, cap_level), safety_stock=x - demand.quantile(0.5),
    )


def balance(
    demand: Demand,
    n_nodes: int,
    *,
    headroom: float = 0.9,
    unit_cost: float | np.ndarray | None = None,
    node_capacity: np.ndarray | None = None,
) -> Allocation:
    """Assign whole items to nodes; minimise the largest load at the `headroom` quantile.

    Node loads add their items' quantiles at each level (comonotone: above the median usually
    more than the total's quantile, below it less). A node's service level is the highest level
    at which its load fits its capacity; its expected load and overflow are exact integrals of
    its piecewise-linear quantile function (as for items), whatever the spacing of the levels.
    """
    if n_nodes < 1:
        raise AllocationError("nodes must be at least 1", "nodes")
    if not 0 < headroom < 1:
        raise AllocationError("headroom must be strictly between 0 and 1", "headroom")
    n = demand.n
    w = _unit_cost(n, unit_cost)
    caps = np.ones(n_nodes) if node_capacity is None else np.asarray(node_capacity, dtype="float64")
    if caps.shape != (n_nodes,) or not np.isfinite(caps).all() or (caps <= 0).any():
        raise AllocationError("every node capacity must be a finite number > 0", "nodes")
    load = w * demand.quantile(headroom)
    order = np.argsort(-load, kind="stable")
    node_load = np.zeros(n_nodes)
    node = np.empty(n, dtype="int64")
    # LPT: place the largest remaining item where utilisation grows least
    if node_capacity is None:  # equal nodes: the least loaded one, from a heap
        heap = [(0.0, j) for j in range(n_nodes)]
        for i in order.tolist():
            used, j = heapq.heappop(heap)
            node[i] = j
            heapq.heappush(heap, (used + float(load[i]), j))
        node_load = np.bincount(node, weights=load, minlength=n_nodes)
    else:
        for i in order:
            j = int(np.argmin((node_load + load[i]) / caps))
            node[i] = j
            node_load[j] += load[i]

    # per-node distribution: level-wise sum of its items' quantiles (scaled by unit cost)
    scaled = demand.values * w[:, None]
    nodes = []
    node_level = np.ones(n_nodes)
    for j in range(n_nodes):
        members = node == j
        q = scaled[members].sum(axis=0)
        dist = Demand(q[None, :], demand.levels)
        fit = float(dist.cdf(np.array([caps[j]]))[0]) if node_capacity is not None else None
        if fit is not None:
            node_level[j] = fit
        nodes.append({
            "node": j, "items": int(members.sum()), "load": float(node_load[j]),
            "expected_load": float(dist.mean()[0]), "capacity": None if node_capacity is None else float(caps[j]),
            "utilisation": None if node_capacity is None else float(node_load[j] / caps[j]),
            "service_level": fit,
            "expected_overflow": None if node_capacity is None else float(dist.shortfall(np.array([caps[j]]))[0]),
        })
    x = demand.quantile(headroom)
    total_cap = float(caps.sum()) if node_capacity is not None else float("inf")
    return Allocation(
        mode="balance", quantity=x, service_level=node_level[node] if node_capacity is not None else demand.cdf(x),
        expected_shortfall=demand.shortfall(x), expected_leftover=demand.leftover(x),
        expected_demand=demand.mean(), capacity=total_cap, used=float(node_load.sum()),
        binding=bool(node_capacity is not None and (node_load > caps).any()),
        target_level=np.full(n, headroom), node=node, nodes=nodes,
    )


def lower_bound_max_load(load: np.ndarray, n_nodes: int) -> float:
    """No assignment of whole items to n equal nodes can have a max load below this."""
    return float(max(load.sum() / n_nodes, load.max(initial=0.0)))


__all__ = [
    "Allocation",
    "AllocationError",
    "Demand",
    "Mode",
    "balance",
    "fair_share",
    "grid_levels",
    "lower_bound_max_load",
    "newsvendor",
    "period_quantiles",
    "service_level",
]
