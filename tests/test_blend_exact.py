"""The blend's arithmetic on inputs small enough to check by hand: the weight grid, the horizon
buckets, per-series weights shrunk to global, the weighted combination (with a missing member
and crossing quantiles), and the width calibration of its intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.blend.intervals import WIDTH_GRID, apply_widths, calibrate_widths, width_factor
from training.blend.weights import combine, learn_weights, simplex_grid
from training.metrics import bucket_of

C = pd.Timestamp("2024-01-01")


def test_simplex_grid_and_buckets():
    np.testing.assert_allclose(simplex_grid(2, 0.5), [[0, 1], [0.5, 0.5], [1, 0]])
    g = simplex_grid(3, 0.5)
    assert len(g) == 6 and np.allclose(g.sum(axis=1), 1.0) and ((g * 2) % 1 == 0).all()
    # edges [4, 8]: steps 1-4, 5-8, 9 and beyond
    assert bucket_of(np.array([1, 4, 5, 8, 9, 12]), [4, 8]).tolist() == [0, 0, 1, 1, 2, 2]


def _validation() -> pd.DataFrame:
    """s1: member a exact, b 2 too high; s2: b exact, a 4 too high; 4 weeks each, y = 10."""
    rows = []
    for k in range(1, 5):
        ds = C + pd.Timedelta(weeks=k)
        rows.append({"unique_id": "s1", "cutoff": C, "ds": ds, "y": 10.0, "a": 10.0, "b": 12.0})
        rows.append({"unique_id": "s2", "cutoff": C, "ds": ds, "y": 10.0, "a": 14.0, "b": 10.0})
    return pd.DataFrame(rows)


def test_series_weights_shrink_to_the_global_weights():
    # global weights (lowest mean loss over both series, grid step 0.5): w_b = 1 costs
    # (2 + 0) / 2 = 1, equal weights (1 + 2) / 2, w_a = 1 (0 + 4) / 2: all weight on b.
    # Own weights: s1 all on a, s2 all on b. With 4 points and k = 4:
    # s1 = (4 [1, 0] + 4 [0, 1]) / 8 = [0.5, 0.5]; s2 stays [0, 1].
    w, g = learn_weights(_validation(), ["a", "b"], grid_step=0.5, shrinkage=4.0, min_points=1)
    np.testing.assert_allclose(g[["a", "b"]].to_numpy(), [[0, 1]] * 3)
    first = w[w["bucket"] == 0].set_index("unique_id")
    np.testing.assert_allclose(first.loc["s1", ["a", "b"]].to_numpy(dtype=float), [0.5, 0.5])
    np.testing.assert_allclose(first.loc["s2", ["a", "b"]].to_numpy(dtype=float), [0.0, 1.0])
    assert first.loc["s1", "n_points"] == 4
    # no shrinkage: each series keeps its own best member
    w0, _ = learn_weights(_validation(), ["a", "b"], grid_step=0.5, shrinkage=0.0, min_points=1)
    own = w0[w0["bucket"] == 0].set_index("unique_id")
    np.testing.assert_allclose(own.loc["s1", ["a", "b"]].to_numpy(dtype=float), [1.0, 0.0])
    # fewer points than min_points: the global weights
    wg, _ = learn_weights(_validation(), ["a", "b"], grid_step=0.5, shrinkage=0.0, min_points=5)
    np.testing.assert_allclose(wg[wg["bucket"] == 0][["a", "b"]].to_numpy(dtype=float), [[0, 1], [0, 1]])


def test_combine_weights_renormalises_and_sorts():
    weights = pd.DataFrame({"unique_id": ["s"], "bucket": [0], "a": [0.25], "b": [0.75]})
    glob = pd.DataFrame({"a": [0.5] * 3, "b": [0.5] * 3})
    preds = pd.DataFrame({
        "unique_id": ["s", "s", "t"], "ds": [C + pd.Timedelta(weeks=1), C + pd.Timedelta(weeks=2), C + pd.Timedelta(weeks=1)],
        "cutoff": [C, C, C],
        "a": [4.0, 4.0, 2.0], "a-q10": [1.0, 1.0, 1.0], "a-q90": [3.0, 3.0, 3.0],
        "b": [8.0, np.nan, 6.0], "b-q10": [5.0, np.nan, 5.0], "b-q90": [0.0, np.nan, 7.0],
    })
    out = combine(preds, ["a", "b"], weights, glob, [0.1, 0.9], name="m")
    # s, week 1: 0.25 * 4 + 0.75 * 8 = 7; q10 0.25 + 3.75 = 4, q90 0.75 + 0 = 0.75 -> sorted
    assert out.loc[0, "m"] == pytest.approx(7.0)
    assert (out.loc[0, "m-q10"], out.loc[0, "m-q90"]) == pytest.approx((0.75, 4.0))
    # s, week 2: b missing -> a alone
    assert out.loc[1, "m"] == pytest.approx(4.0) and out.loc[1, "m-q90"] == pytest.approx(3.0)
    # t has no weights of its own: the global 0.5 / 0.5
    assert out.loc[2, "m"] == pytest.approx(4.0) and out.loc[2, "m-q90"] == pytest.approx(5.0)


def test_width_calibration_by_hand():
    """One member, median 10, q10 8, q90 12 on 100 rows whose actuals run 0.1, 0.3, ..., 19.9.
    The 90% bound 10 + 2f must have 90 actuals at or below it: 10 + 2f >= 17.9, f >= 3.95 (the
    smallest such grid factor). The 10% bound 10 - 2f must have 10 at or below it:
    10 - 2f >= 1.9, f <= 4.05 (the largest)."""
    n = 100
    v = pd.DataFrame({
        "unique_id": [f"s{i}" for i in range(n)], "cutoff": C, "ds": C + pd.Timedelta(weeks=1),
        "y": 10 + (np.arange(1, n + 1) - 50.5) / 5,
        "a": 10.0, "a-q10": 8.0, "a-q50": 10.0, "a-q90": 12.0,
    })
    weights = pd.DataFrame(columns=["unique_id", "bucket", "a"])
    glob = pd.DataFrame({"a": [1.0] * 3})
    factors = calibrate_widths(v, ["a"], weights, glob)
    up = min(f for f in WIDTH_GRID if f >= 3.95 - 1e-9)
    down = max(f for f in WIDTH_GRID if f <= 4.05 + 1e-9)
    assert factors == {"q10": pytest.approx(down), "q90": pytest.approx(up)}
    # levels without a factor borrow the nearest on their side of the median; 0.5 has none
    assert width_factor(0.95, factors) == factors["q90"] and width_factor(0.02, factors) == factors["q10"]
    assert width_factor(0.5, factors) is None
    out = pd.DataFrame({"m-q10": [8.0, 0.5], "m-q50": [10.0, 1.0], "m-q90": [12.0, 2.0]})
    got = apply_widths(out.copy(), "m", [0.1, 0.9], factors)
    np.testing.assert_allclose(got["m-q90"], [10 + 2 * up, 1 + up])
    # a lower bound is never below zero
    np.testing.assert_allclose(got["m-q10"], [10 - 2 * down, 0.0])  # 1 - 0.5 f < 0
