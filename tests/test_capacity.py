"""Replica plans (darkhorse/serving/capacity.py): hand-computed cases and properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkhorse.core.errors import DarkHorseError
from darkhorse.serving.capacity import (
    CapacityError,
    Plan,
    PlanSettings,
    apply_cooldown,
    evaluate,
    forecast_plan,
    reactive_plan,
    static_plan,
)


# --------------------------------------------------------------------------- by hand
def test_forecast_plan_provisions_the_quantile_by_hand():
    s = PlanSettings(throughput=50, quantile=0.9, min_replicas=1, max_replicas=10, cooldown=0)
    plan = forecast_plan([0.5, 0.9], [[100, 200], [50, 90], [0, 0]], s)
    # q90 = 200 -> 4 replicas; 90 -> ceil(1.8) = 2; 0 -> the minimum, 1
    assert plan.replicas.tolist() == [4, 2, 1]
    assert plan.capacity.tolist() == [200, 100, 50]


def test_expected_intervals_over_capacity_from_the_quantile_function():
    # levels .25/.75 at 0/100: Q is 0 up to .25, rises to 100 at .75; P(load <= 50) = .5
    s = PlanSettings(throughput=50, quantile=0.5, cooldown=0)
    plan = forecast_plan([0.25, 0.75], [[0, 100], [0, 100]], s)
    assert plan.replicas.tolist() == [1, 1]
    assert plan.p_over_capacity.tolist() == pytest.approx([0.5, 0.5])
    assert plan.expected_over_capacity == pytest.approx(1.0)


def test_max_replicas_caps_the_plan_and_shows_as_risk():
    s = PlanSettings(throughput=10, quantile=0.9, max_replicas=2, cooldown=0)
    plan = forecast_plan([0.1, 0.5, 0.9], [[40, 50, 60]], s)
    assert plan.replicas.tolist() == [2]
    # capacity 20 lies below every forecast quantile: Q rises from 0 at level 0 to 40 at 0.1,
    # so P(load <= 20) = 0.05
    assert plan.p_over_capacity[0] == pytest.approx(0.95)


def test_cooldown_by_hand():
    # up at once; down only after two intervals at the current count
    assert apply_cooldown([2, 5, 1, 1, 1, 1], 2).tolist() == [2, 5, 5, 1, 1, 1]
    assert apply_cooldown([2, 5, 1, 1, 1, 1], 0).tolist() == [2, 5, 1, 1, 1, 1]
    assert apply_cooldown([1, 1, 1], 5, initial=4).tolist() == [4, 4, 4]
    assert apply_cooldown([1, 1, 1], 2, initial=4).tolist() == [4, 4, 1]


def test_reactive_plan_sees_the_interval_that_closed_before_its_decision():
    s = PlanSettings(throughput=10, target_utilisation=0.5, lead=1, cooldown=0)
    plan = reactive_plan([10, 20, 30, 40], s, history=[5])
    # lead 1: interval t is decided at t - 1 from load[t - 2]: 5, 5 (history), 10, 20 at 5/replica
    assert plan.replicas.tolist() == [1, 1, 2, 4]
    plan0 = reactive_plan([10, 20, 30, 40], PlanSettings(throughput=10, target_utilisation=0.5, lead=0), history=[5])
    assert plan0.replicas.tolist() == [1, 2, 4, 6]


def test_static_plan_holds_the_historical_peak():
    s = PlanSettings(throughput=100, min_replicas=1, max_replicas=50)
    assert static_plan([3, 250, 10], 4, s).replicas.tolist() == [3, 3, 3, 3]
    assert static_plan([300], 1, s).replicas.tolist() == [3]  # exactly the peak: no extra replica


def test_evaluate_by_hand():
    plan = Plan(np.array([1, 2, 2]), throughput=10)
    out = evaluate(plan, np.array([5.0, 25.0, 20.0]), interval_hours=0.25)
    assert out.violations == 1  # 25 > 20; 20 = 20 is served
    assert out.replica_hours == pytest.approx(1.25)
    assert out.scaling_actions == 1
    assert out.mean_utilisation == pytest.approx((0.5 + 1.0 + 1.0) / 3)


def test_evaluate_forgives_only_the_planners_rounding_slack():
    # the planner rounds 1.0000000000000002 requests down to one replica of throughput 1; the
    # same float noise above capacity is no violation, a real excess is
    s = PlanSettings(throughput=1.0, max_replicas=10)
    plan = static_plan([1.0000000000000002], 2, s)
    assert plan.replicas.tolist() == [1, 1]
    out = evaluate(plan, np.array([1.0000000000000002, 1.000001]), interval_hours=1)
    assert out.violations == 1


def test_bad_inputs_name_the_field():
    with pytest.raises(CapacityError, match="throughput") as e:
        PlanSettings(throughput=0)
    assert e.value.field == "throughput" and isinstance(e.value, DarkHorseError)
    with pytest.raises(CapacityError, match="max_replicas"):
        PlanSettings(throughput=1, min_replicas=5, max_replicas=2)
    with pytest.raises(CapacityError, match="levels"):
        forecast_plan([0.5, 0.5], [[1, 2]], PlanSettings(throughput=1))
    with pytest.raises(CapacityError, match="intervals"):
        evaluate(Plan(np.array([1, 1]), 1.0), np.array([1.0]), interval_hours=1)


# --------------------------------------------------------------------------- properties
LEVELS = np.array([0.1, 0.5, 0.9])
# no subnormal loads (below 2.2e-308 requests): there the plan's interpolation and np.interp
# round the same quantile to 0 and to 5e-324, one replica apart
load = st.floats(0, 1e4, allow_subnormal=False)
loads = st.lists(st.tuples(load, load, load).map(sorted), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(loads, st.floats(0.5, 500), st.sampled_from([0.5, 0.8, 0.9, 0.95]), st.integers(0, 3), st.integers(1, 400))
def test_forecast_plan_is_the_smallest_count_that_covers_the_quantile(q, throughput, tau, lo, hi):
    s = PlanSettings(throughput=throughput, quantile=tau, min_replicas=min(lo, hi), max_replicas=hi, cooldown=0)
    q = np.array(q)
    plan = forecast_plan(LEVELS, q, s)
    r = plan.replicas
    assert ((r >= s.min_replicas) & (r <= s.max_replicas)).all()
    target = np.array([np.interp(tau, np.r_[0, LEVELS], np.r_[0, row]) for row in q]) if tau <= 0.9 else None
    if target is not None:
        # the plan forgives a load a billionth above a whole count of replicas
        covered = (r * throughput >= target * (1 - 1e-9)) | (r == s.max_replicas)
        minimal = ((r - 1) * throughput < target) | (r == s.min_replicas)
        assert covered.all() and minimal.all()
    # below the cap, every interval is over capacity with probability at most 1 - tau
    free = r < s.max_replicas
    assert (plan.p_over_capacity[free] <= 1 - tau + 1e-9).all()
    assert plan.expected_over_capacity == pytest.approx(plan.p_over_capacity.sum())


@settings(max_examples=60, deadline=None)
@given(loads, st.floats(1, 100))
def test_a_higher_quantile_never_plans_fewer_replicas(q, throughput):
    q = np.array(q)
    low = forecast_plan(LEVELS, q, PlanSettings(throughput=throughput, quantile=0.6, cooldown=0))
    high = forecast_plan(LEVELS, q, PlanSettings(throughput=throughput, quantile=0.9, cooldown=0))
    assert (high.replicas >= low.replicas).all()
    assert high.expected_over_capacity <= low.expected_over_capacity + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=60), st.integers(0, 6))
def test_cooldown_never_goes_below_the_wish_and_holds_before_going_down(desired, cooldown):
    out = apply_cooldown(desired, cooldown)
    assert (out >= np.array(desired)).all()
    assert (out[np.r_[True, np.diff(out) > 0]] == np.array(desired)[np.r_[True, np.diff(out) > 0]]).all()
    changes = np.flatnonzero(np.diff(out) != 0) + 1  # intervals that start a new count
    starts = np.r_[0, changes]
    for prev, t in itertools.pairwise(starts):
        if out[t] < out[t - 1]:
            assert t - prev >= cooldown
    if cooldown == 0:
        assert out.tolist() == list(desired)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=50), st.lists(st.floats(0, 1e4), min_size=1, max_size=10),
       st.integers(0, 3), st.floats(1, 100))
def test_reactive_plan_tracks_the_load_it_saw(observed, history, lead, throughput):
    s = PlanSettings(throughput=throughput, target_utilisation=0.7, lead=lead, cooldown=0, max_replicas=10**6)
    plan = reactive_plan(observed, s, history=history)
    seen = np.r_[np.full(lead + 1, history[0]), history, observed][-(len(observed) + lead + 1):][: len(observed)]
    want = np.maximum(np.ceil(seen / (throughput * 0.7) * (1 - 1e-9)), 1)
    assert plan.replicas.tolist() == want.astype(int).tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=50), st.floats(1, 100))
def test_static_peak_never_violates_on_its_own_history(history, throughput):
    s = PlanSettings(throughput=throughput, max_replicas=10**6)
    plan = static_plan(history, len(history), s)
    assert evaluate(plan, np.array(history), interval_hours=1).violations == 0
    assert evaluate(plan, np.array(history), interval_hours=1).scaling_actions == 0
