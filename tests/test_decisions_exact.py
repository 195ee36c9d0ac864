"""Period distributions and the decision replay on cases computed by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from darkhorse.serving import api
from darkhorse.serving.engine import Engine, NoFreshness
from training.allocation import grid_levels
from training.decisions import replay
from training.periods import STRATA, PathBank, path_bank, pit, stratum_of

LEVELS = np.array([0.1, 0.5, 0.9])
C0, C1 = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")


def test_pit_by_hand():
    rng = np.random.default_rng(0)
    u01 = np.array([[1.0, 5.0, 9.0]] * 4)  # U(0, 10) at 10/50/90%
    # 5 is the median; 2.5 is 3/8 of the way from 1 (10%) to 5 (50%): 0.1 + 0.4 * 0.375;
    # the top knot (level 1) is 10, slope 10 per unit level: 12 sits at 1 + 2 / 10
    got = pit(u01, LEVELS, np.array([5.0, 2.5, 10.0, 12.0]), rng)
    np.testing.assert_allclose(got, [0.5, 0.25, 1.0, 1.2])
    # an atom at zero: Q = 0 up to the median, so y = 0 is anywhere in [0, 0.5], uniformly
    sparse = np.array([[0.0, 0.0, 4.0]] * 4000)
    u = pit(sparse, LEVELS, np.zeros(4000), rng)
    assert u.min() >= 0 and u.max() <= 0.5 and u.mean() == pytest.approx(0.25, abs=0.01)


def _frame(rows):
    return pd.DataFrame(rows, columns=["unique_id", "ds", "cutoff", "y", "m", "m-q10", "m-q50", "m-q90"])


def test_pit_paths_keep_only_weeks_known_at_the_cutoff():
    rows = []
    for item, high in (("a", 10.0), ("b", 20.0)):
        for k in (1, 2):  # two steps of the origin C0, actual at the median then at 90%
            y = high * (0.5 if k == 1 else 0.9)
            rows.append((item, C0 + pd.Timedelta(weeks=k), C0, y, high / 2, high * 0.1, high / 2, high * 0.9))
    fc = _frame(rows)
    full = path_bank(fc, "m")
    np.testing.assert_allclose(full.paths, [[0.5, 0.9], [0.5, 0.9]])
    # strata from the forecast's mean weekly median: a 5 (4-16), b 10 (4-16)
    assert full.stratum.tolist() == [3, 3]
    # at C1 = C0 + 1 week only step 1 has closed
    early = path_bank(fc, "m", known_at=C1, horizon=2).paths
    assert early.shape == (2, 2) and np.isnan(early[:, 1]).all()
    np.testing.assert_allclose(early[:, 0], [0.5, 0.5])
    # nothing is known at C0 itself
    assert len(path_bank(fc, "m", known_at=C0)) == 0


def test_items_take_their_own_strata_paths():
    assert STRATA == (0.25, 1.0, 4.0, 16.0)
    assert stratum_of(np.array([0.0, 0.3, 2.0, 5.0, 100.0])).tolist() == [0, 1, 2, 3, 4]
    levels = np.array([0.1, 0.5, 0.9])
    # paths of stratum 0 sit at the top (0.9), those of stratum 3 at the bottom (0.1)
    bank = PathBank(np.array([[0.9]] * 300 + [[0.1]] * 300), np.array([0] * 300 + [3] * 300))
    small = np.array([[[0.0, 0.1, 0.2]]])  # median 0.1: stratum 0
    big = np.array([[[1.0, 5.0, 9.0]]])  # median 5: stratum 3
    q = bank.period_quantiles(np.vstack([small, big]), levels, np.array([0.5]))
    np.testing.assert_allclose(q[:, 0, 0], [0.2, 1.0])
    # a stratum with fewer than MIN_STRATUM paths borrows all of them: the median of 0.1 and 0.9
    mixed = PathBank(np.array([[0.9]] * 300 + [[0.1]] * 300), np.array([0] * 300 + [2] * 300))
    q = mixed.period_quantiles(big, levels, np.array([0.25, 0.75]))
    np.testing.assert_allclose(q[0, 0], [1.0, 9.0])
    # a stratum whose paths stop before the period borrows the paths that reach its end
    short = PathBank(np.array([[0.9, 0.9]] * 300 + [[0.1, np.nan]] * 300), np.array([0] * 300 + [3] * 300))
    two = np.concatenate([big, big], axis=1)  # two weeks of U(0, 10)-like forecasts
    q = short.period_quantiles(two, levels, np.array([0.5]))
    assert q[0, 1, 0] == pytest.approx(18.0)  # both weeks at 0.9: 9 + 9


def _replay_frame(with_history: bool) -> pd.DataFrame:
    """Items a ~ U(0, 10), b ~ U(0, 20) each week at C1, realized 6, 6 and 10, 10; optionally
    an origin two weeks earlier whose actuals were exactly the medians (levels 0.5, 0.5)."""
    c0 = C1 - pd.Timedelta(weeks=2)
    rows = []
    for k in (1, 2):
        rows += [("a", C1 + pd.Timedelta(weeks=k), C1, 6.0, 5.0, 1.0, 5.0, 9.0),
                 ("b", C1 + pd.Timedelta(weeks=k), C1, 10.0, 10.0, 2.0, 10.0, 18.0)]
        if with_history:
            rows += [("a", c0 + pd.Timedelta(weeks=k), c0, 5.0, 5.0, 1.0, 5.0, 9.0),
                     ("b", c0 + pd.Timedelta(weeks=k), c0, 10.0, 10.0, 2.0, 10.0, 18.0)]
    return _frame(rows)


def _scenario(out, **key):
    hits = [s for s in out["scenarios"] if all(s[k] == v for k, v in key.items())]
    assert len(hits) == 1, key
    return hits[0]


def test_replay_costs_by_hand():
    out = replay(_replay_frame(False), ["m"], [C1], periods=(1,), capacities=(0.5, 1.0), cost_ratios=(1.0, 4.0))
    assert {s["method"] for s in out["scenarios"]} == {"sum"}  # no earlier origin: no paths
    # cu/co = 1, capacity 16 (the realized total): the medians 5 + 10 fit; cost |6-5| + 0
    s = _scenario(out, method="sum", capacity=1.0, cost_ratio=1.0)
    assert s["cost"] == pytest.approx(1.0) and s["hindsight"] == 0.0 and s["regret_per_unit"] == pytest.approx(1 / 16)
    # cu/co = 4 wants the 80% quantiles 8 + 16 = 24 > 16: both at level 16/30 -> 5.33, 10.67;
    # cost 4 * (6 - 5.33) + 1 * (10.67 - 10) = 10/3
    s = _scenario(out, method="sum", capacity=1.0, cost_ratio=4.0)
    assert s["cost"] == pytest.approx(10 / 3, rel=1e-6)
    # capacity 8: level 8/30 -> 2.67, 5.33; every unit short costs 4: 4 * (16 - 8) = 32, the
    # hindsight cost too, so no regret
    s = _scenario(out, method="sum", capacity=0.5, cost_ratio=4.0)
    assert s["cost"] == pytest.approx(32.0, rel=1e-6) and s["hindsight"] == pytest.approx(32.0)
    assert s["regret_per_unit"] == pytest.approx(0.0, abs=1e-6)
    cov = out["coverage"][0]
    # 6 is above a's median 5, 10 is at b's median: half at or below the median
    assert cov["below"]["0.5"] == 0.5 and cov["below"]["0.9"] == 1.0 and cov["interval_80"] == 1.0


def test_replay_paths_come_from_earlier_origins_only():
    # two weeks from C1: realized totals a 12, b 20 (32 in all). At the origin two weeks
    # earlier both actuals sat exactly at their medians: every path is (0.5, 0.5), so the
    # period's distribution is the sum of the medians (10, 20); the newsvendor allocates it
    out = replay(_replay_frame(True), ["m"], [C1], periods=(1, 2), capacities=(1.2,), cost_ratios=(4.0,))
    assert {(s["period"], s["method"]) for s in out["scenarios"]} == {(1, "sum"), (2, "sum"), (2, "paths")}
    s = _scenario(out, period=2, method="paths")
    assert s["cost"] == pytest.approx(4.0 * 2.0, rel=1e-6)  # a short by 2, b exact
    # the level-by-level sum: a ~ U(0, 20), b ~ U(0, 40); the 80% quantiles 16 + 32 exceed the
    # capacity 38.4, so both sit at level 38.4 / 60: 12.8 and 25.6, both over by 0.8 and 5.6
    t = _scenario(out, period=2, method="sum")
    assert t["cost"] == pytest.approx(0.8 + 5.6, rel=1e-6)
    # without an earlier origin there is nothing to draw paths from
    alone = replay(_replay_frame(False), ["m"], [C1], periods=(2,), capacities=(1.2,), cost_ratios=(4.0,))
    assert {s["method"] for s in alone["scenarios"]} == {"sum"}


def test_engine_uses_paths_for_periods_of_several_weeks():
    levels = grid_levels(100)
    n, h = 1, 2
    grid = np.broadcast_to(levels, (n, h, 100)).copy()  # U(0, 1) each week
    g = (np.arange(300) + 0.5) / 300
    u1, u2 = np.meshgrid(g, g)
    paths = np.column_stack([u1.ravel(), u2.ravel()])  # independent weeks
    release = api.Release(release="r", forecaster="f:1", hot_seller_model="h:1", trained_through=date(2024, 1, 1))
    common = dict(ids=np.array(["a"]), weeks=np.array(["2024-01-08", "2024-01-15"], dtype="datetime64[D]"), point=np.full((1, 2), 0.5),
                  grid=grid, levels=levels, scores=pd.DataFrame(index=["a"]), as_of_week=date(2024, 1, 1),
                  release=release, freshness=NoFreshness("test"))
    with_paths = Engine(**common, paths=PathBank(paths, np.ones(len(paths), dtype="int64")))
    without = Engine(**common)
    k25 = int(np.searchsorted(levels, 0.25))  # level 0.255
    # one week: the forecast itself either way
    np.testing.assert_allclose(with_paths.period[0, 0], grid[0, 0])
    # two independent U(0, 1) weeks: P(T <= t) = t^2 / 2 -> the 25.5% quantile is sqrt(0.51)
    assert with_paths.period[0, 1, k25] == pytest.approx(0.51**0.5, abs=5e-3)
    assert without.period[0, 1, k25] == pytest.approx(0.51, abs=1e-9)  # the comonotone sum
