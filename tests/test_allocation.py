"""The allocation module: exact cases and hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from darkhorse.serving.allocation import (
    AllocationError,
    Demand,
    balance,
    fair_share,
    grid_levels,
    lower_bound_max_load,
    newsvendor,
    period_quantiles,
    service_level,
)

K = 20
LEVELS = grid_levels(K)
TOL = 1e-6


def uniform_demand(highs: list[float]) -> Demand:
    """Item i ~ Uniform(0, highs[i]): quantile tau -> tau * high."""
    return Demand(np.outer(highs, LEVELS), LEVELS)


@st.composite
def demands(draw, min_items=1, max_items=12):
    n = draw(st.integers(min_items, max_items))
    steps = draw(arrays("float64", (n, K), elements=st.floats(0, 50, allow_nan=False, allow_infinity=False)))
    return Demand(np.cumsum(steps, axis=1), LEVELS)


@st.composite
def bounds(draw, n):
    lo = draw(arrays("float64", n, elements=st.floats(0, 20)))
    extra = draw(arrays("float64", n, elements=st.floats(0, 400)))
    return lo, lo + extra


def test_quantile_and_cdf_are_inverse_on_a_uniform():
    d = uniform_demand([100.0, 10.0])
    np.testing.assert_allclose(d.quantile(0.3), [30.0, 3.0])
    np.testing.assert_allclose(d.cdf(np.array([30.0, 3.0])), [0.3, 0.3])
    assert d.cdf(np.array([1e9, -1.0])).tolist() == [1.0, 0.0]
    np.testing.assert_allclose(d.mean(), [50.0, 5.0])


def test_expectations_are_exact_for_any_level_grid():
    # U(0, 100) on an uneven grid (whole percents plus the trained 10/50/90)
    levels = np.array(sorted({0.01, 0.03, 0.1, 0.37, 0.5, 0.51, 0.9, 0.97, 0.99}))
    d = Demand(np.outer([100.0], levels), levels)
    assert d.mean()[0] == pytest.approx(50.0, rel=1e-12)
    # E[(D - 40)+] = 60^2 / 200 = 18; E[(40 - D)+] = 40^2 / 200 = 8
    assert d.shortfall(np.array([40.0]))[0] == pytest.approx(18.0, rel=1e-12)
    assert d.leftover(np.array([40.0]))[0] == pytest.approx(8.0, rel=1e-12)
    assert d.shortfall(np.array([1e12]))[0] == 0.0 and d.leftover(np.array([0.0]))[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(d.quantile(np.array([0.37])), [37.0])


def test_intermittent_demand_has_an_atom_at_zero():
    values = np.zeros((1, K))
    values[0, 15:] = [1, 2, 3, 4, 5]
    d = Demand(values, LEVELS)
    # 15 of the 20 equally likely outcomes are 0: P(D <= 0) is at least 0.725 (the 15th level)
    assert d.cdf(np.array([0.0]))[0] >= LEVELS[14] - 1e-12
    assert d.quantile(0.5)[0] == 0.0


def test_newsvendor_ample_capacity_gives_each_item_its_critical_ratio_quantile():
    d = uniform_demand([100.0, 40.0, 10.0])
    res = newsvendor(d, 1e6, underage_cost=[3.0, 1.0, 9.0], overage_cost=[1.0, 1.0, 1.0])
    np.testing.assert_allclose(res.quantity, [75.0, 20.0, 9.0], atol=1e-9)
    assert not res.binding and res.shadow_price == 0.0
    np.testing.assert_allclose(res.service_level, [0.75, 0.5, 0.9], atol=1e-9)


def test_newsvendor_tight_capacity_equalises_the_marginal_value():
    # two uniform items, same costs: the capacity splits so both sit at the same level
    d = uniform_demand([100.0, 50.0])
    res = newsvendor(d, 60.0, underage_cost=4.0, overage_cost=1.0)
    assert res.binding and res.used == pytest.approx(60.0, abs=1e-6)
    np.testing.assert_allclose(res.quantity, [40.0, 20.0], atol=1e-6)
    # the shadow price solves F(x) = (cu - lam) / (cu + co): 0.4 = (4 - lam) / 5
    assert res.shadow_price == pytest.approx(2.0, abs=1e-6)
    # expected shortfall of U(0, 100) at 40: (100 - 40)^2 / 200 = 18
    assert res.expected_shortfall[0] == pytest.approx(18.0, rel=1e-6)
    # a binding newsvendor reports the level it allocated at, (4 - 2) / 5, not the ratio 0.8
    np.testing.assert_allclose(res.target_level, [0.4, 0.4], atol=1e-6)


def test_shadow_price_when_the_capacity_equals_the_minimums():
    # two U(0, 10) items at their minimum 5 (F = 0.5); cu 3, co 1: one more unit given to
    # either saves cu (1 - F) - co F = 3 * 0.5 - 0.5 = 1, the shadow price (not the top of the
    # search bracket, cu / w = 3)
    d = uniform_demand([10.0, 10.0])
    res = newsvendor(d, 10.0, underage_cost=3.0, overage_cost=1.0, minimum=[5.0, 5.0])
    np.testing.assert_allclose(res.quantity, [5.0, 5.0])
    assert res.binding and res.shadow_price == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(res.target_level, [0.5, 0.5], atol=1e-9)
    # the same with one item capped at its maximum 5: only the other can grow, same value
    capped = newsvendor(d, 10.0, underage_cost=[3.0, 9.0], overage_cost=1.0, minimum=[5.0, 5.0], maximum=[np.inf, 5.0])
    assert capped.shadow_price == pytest.approx(1.0, abs=1e-9)


def test_unit_cost_weights_the_capacity():
    d = uniform_demand([100.0, 100.0])
    res = newsvendor(d, 50.0, unit_cost=[1.0, 4.0], underage_cost=1.0, overage_cost=0.0)
    assert float(np.dot([1.0, 4.0], res.quantity)) <= 50.0 + TOL
    assert res.quantity[0] > res.quantity[1]  # the cheap item gets more units


def test_clear_errors_name_the_problem():
    d = uniform_demand([10.0, 10.0])
    with pytest.raises(AllocationError, match="below the total of the minimum") as e:
        newsvendor(d, 5.0, minimum=[3.0, 3.0])
    assert e.value.field == "capacity"
    with pytest.raises(AllocationError, match="min exceeds max"):
        fair_share(d, 5.0, minimum=[3.0, 0.0], maximum=[2.0, 1.0])
    with pytest.raises(AllocationError, match="capacity"):
        service_level(d, -1.0)
    with pytest.raises(AllocationError, match="capacity"):
        newsvendor(d, float("nan"))
    with pytest.raises(AllocationError, match="unit_cost"):
        fair_share(d, 5.0, unit_cost=[0.0, 1.0])
    with pytest.raises(AllocationError, match="headroom"):
        balance(d, 2, headroom=1.0)


def test_service_level_sets_safety_stock_above_the_median():
    d = uniform_demand([100.0])
    res = service_level(d, 1e6, level=0.9)
    assert res.quantity[0] == pytest.approx(90.0)
    assert res.safety_stock[0] == pytest.approx(40.0)
    short = service_level(d, 70.0, level=0.9)
    assert short.quantity[0] == pytest.approx(70.0, abs=1e-6) and short.target_level[0] == pytest.approx(0.7, abs=1e-6)


def test_fair_share_serves_the_same_fraction_of_every_item():
    d = uniform_demand([100.0, 20.0])  # means 50 and 10
    res = fair_share(d, 30.0)
    np.testing.assert_allclose(res.quantity, [25.0, 5.0], atol=1e-6)
    assert res.share == pytest.approx(0.5, abs=1e-9)
    assert fair_share(d, 1000.0).quantity.tolist() == pytest.approx([50.0, 10.0])


def test_balance_spreads_equal_items_evenly_and_reports_node_service_level():
    d = uniform_demand([10.0] * 6)
    res = balance(d, 3, headroom=0.9)
    assert np.bincount(res.node, minlength=3).tolist() == [2, 2, 2]
    loads = [n["load"] for n in res.nodes]
    assert max(loads) == pytest.approx(18.0)
    capped = balance(d, 3, headroom=0.9, node_capacity=np.array([10.0, 10.0, 10.0]))
    # two U(0,10) moving together need 2 * Q(tau) <= 10: tau = 0.5
    assert all(n["service_level"] == pytest.approx(0.5, abs=1e-9) for n in capped.nodes)


def test_balance_node_expectations_are_exact_integrals_on_uneven_levels():
    # two U(0, 10) items on one node, quantiles at unevenly spaced levels: the node's load is
    # U(0, 20) (comonotone sum); E = 10, E[(load - 10)+] = 10^2 / 40 = 2.5. A plain average of
    # the quantiles over these levels would give 2 * 10 * mean(levels) = 12.6 and 4.2.
    levels = np.array([0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999])
    d = Demand(np.outer([10.0, 10.0], levels), levels)
    res = balance(d, 1, headroom=0.9, node_capacity=np.array([10.0]))
    node = res.nodes[0]
    assert node["expected_load"] == pytest.approx(10.0, rel=1e-12)
    assert node["expected_overflow"] == pytest.approx(2.5, rel=1e-12)
    assert node["service_level"] == pytest.approx(0.5, abs=1e-12)


def test_period_quantiles_from_paths():
    """Two U(0, 1) weeks: independent paths give the total's quantiles (its 25% quantile is
    sqrt(0.5) = 0.707), comonotone paths the sum of the weekly quantiles (0.5)."""
    levels = grid_levels(100)
    weekly = np.broadcast_to(levels, (1, 2, 100))  # U(0, 1) each week
    grid = (np.arange(300) + 0.5) / 300
    u1, u2 = np.meshgrid(grid, grid)
    independent = np.column_stack([u1.ravel(), u2.ravel()])
    out = np.array([0.25, 0.5, 0.75])
    ind = period_quantiles(weekly, levels, independent, out)
    np.testing.assert_allclose(ind[0, 0], out, atol=2e-3)  # one week: the weekly quantiles
    # the triangular total: P(T <= t) = t^2 / 2 below 1 -> 0.707; 1; 2 - 0.707
    np.testing.assert_allclose(ind[0, 1], [0.5**0.5, 1.0, 2 - 0.5**0.5], atol=3e-3)
    como = period_quantiles(weekly, levels, np.column_stack([grid, grid]), out)
    np.testing.assert_allclose(como[0, 1], 2 * out, atol=3e-3)
    # a path whose second week is unknown counts for one-week totals only
    partial = np.vstack([np.column_stack([grid, grid]), np.column_stack([np.full(300, 0.999), np.full(300, np.nan)])])
    got = period_quantiles(weekly, levels, partial, out)
    np.testing.assert_allclose(got[0, 1], 2 * out, atol=3e-3)
    assert got[0, 0, 2] > 0.9  # half the one-week paths sit at 0.999


# ---------------------------------------------------------------- properties

PROP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("newsvendor", "fair_share", "service_level")


def run(mode, d, capacity, lo=None, hi=None):
    if mode == "newsvendor":
        return newsvendor(d, capacity, underage_cost=3.0, overage_cost=1.0, minimum=lo, maximum=hi)
    if mode == "fair_share":
        return fair_share(d, capacity, minimum=lo, maximum=hi)
    return service_level(d, capacity, level=0.9, minimum=lo, maximum=hi)


@PROP
@given(data=st.data(), mode=st.sampled_from(MODES), frac=st.floats(0, 2))
def test_never_exceeds_capacity_and_respects_min_max(data, mode, frac):
    d = data.draw(demands())
    lo, hi = data.draw(bounds(d.n))
    need = lo.sum()
    capacity = need + frac * (d.values[:, -1].sum() + 1)
    res = run(mode, d, capacity, lo, hi)
    assert res.quantity.sum() <= capacity * (1 + 1e-9) + TOL
    assert (res.quantity >= lo - TOL).all() and (res.quantity <= hi + TOL).all()
    # expectations agree with each other: E[(x - D)+] - E[(D - x)+] = x - E[D]
    np.testing.assert_allclose(res.expected_leftover - res.expected_shortfall, res.quantity - res.expected_demand,
                               rtol=1e-9, atol=1e-6 * (1 + res.quantity.max(initial=0)))


@PROP
@given(data=st.data(), mode=st.sampled_from(MODES), c1=st.floats(0, 500), extra=st.floats(0, 500))
def test_monotone_in_capacity(data, mode, c1, extra):
    d = data.draw(demands())
    a = run(mode, d, c1)
    b = run(mode, d, c1 + extra)
    assert (b.quantity >= a.quantity - 1e-6 * (1 + a.quantity)).all()


@PROP
@given(data=st.data(), mode=st.sampled_from(MODES), copies=st.integers(2, 4), frac=st.floats(0, 1.5))
def test_equal_items_get_equal_shares(data, mode, copies, frac):
    one = data.draw(demands(max_items=4))
    d = Demand(np.repeat(one.values, copies, axis=0), LEVELS)
    res = run(mode, d, frac * d.values[:, -1].sum())
    q = res.quantity.reshape(one.n, copies)
    np.testing.assert_allclose(q, q[:, :1].repeat(copies, axis=1), rtol=1e-9, atol=1e-9)


@PROP
@given(data=st.data(), cu=st.floats(0.1, 10), co=st.floats(0.1, 10))
def test_newsvendor_with_ample_capacity_is_the_critical_ratio_quantile(data, cu, co):
    d = data.draw(demands())
    res = newsvendor(d, 1e12, underage_cost=cu, overage_cost=co)
    np.testing.assert_allclose(res.quantity, d.quantile(cu / (cu + co)), rtol=1e-12)
    assert res.shadow_price == 0.0 and not res.binding


@PROP
@given(data=st.data(), n_nodes=st.integers(1, 6), headroom=st.floats(0.05, 0.95))
def test_balance_assigns_every_item_once_within_the_list_scheduling_bound(data, n_nodes, headroom):
    d = data.draw(demands(max_items=20))
    res = balance(d, n_nodes, headroom=headroom)
    assert res.node.shape == (d.n,) and ((res.node >= 0) & (res.node < n_nodes)).all()
    load = d.quantile(headroom)
    per_node = np.bincount(res.node, weights=load, minlength=n_nodes)
    assert sum(n["items"] for n in res.nodes) == d.n
    assert per_node.sum() == pytest.approx(load.sum())
    # longest-processing-time-first: within 4/3 of the optimum, and never above mean + max item
    assert per_node.max() <= load.sum() / n_nodes + load.max(initial=0) + TOL
    assert per_node.max() >= lower_bound_max_load(load, n_nodes) - TOL
