"""The service's allocation modes: the solvers live in `training.allocation` (pure numpy, so that
the backtest's decision replay runs the very allocator `/v1/allocate` runs); this module is the
import path of the serving floor."""

from training.allocation import (
    Allocation,
    AllocationError,
    Demand,
    Mode,
    balance,
    fair_share,
    grid_levels,
    lower_bound_max_load,
    newsvendor,
    period_quantiles,
    service_level,
)

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
