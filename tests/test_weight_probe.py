"""The weighting-rule probe on stored forecasts: what each rule learns and where it applies it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.accuracy.weight_probe import probe
from darkhorse.core.schema import CUTOFF, DS, ID, Y

WEEKS = pd.date_range("2020-01-06", periods=60, freq="7D")


def _panel(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 intermittent and 20 steady series; member `a` is exact on the intermittent ones and 5
    high on the steady ones, member `b` the other way round, `c` is 20 high everywhere."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(40):
        sparse = i < 20
        y = (rng.random(len(WEEKS)) < 0.2).astype("float64") if sparse else 10 + rng.normal(0, 2, len(WEEKS)).round()
        frames.append(pd.DataFrame({ID: f"s{i:02d}", DS: WEEKS, Y: y}))
    history = pd.concat(frames, ignore_index=True)
    rows = []
    for k, c in enumerate(WEEKS[[36, 40, 44, 48]]):
        fut = history[(history[DS] > c) & (history[DS] <= c + pd.Timedelta(weeks=8))].copy()
        fut[CUTOFF] = c
        fut["window"] = "eval" if k == 3 else "blend"
        sparse = fut[ID] < "s20"
        fut["a"] = np.where(sparse, fut[Y], fut[Y] + 5)
        fut["b"] = np.where(sparse, fut[Y] + 5, fut[Y])
        fut["c"] = fut[Y] + 20
        rows.append(fut)
    return pd.concat(rows, ignore_index=True), history


def test_the_rules_learn_on_earlier_origins_and_group_weights_follow_the_zero_share():
    forecasts, history = _panel()
    res = probe(forecasts, history, ["a", "b", "c"])
    # each member is exact on half the series: one weight per zero-share group is exact everywhere
    assert res["groups_zero"] < 1e-9
    assert res["global"] > 0.1 and res["best_member"] > 0.1
    # the hindsight global mix can always take a single member: never worse than the best one
    assert res["hindsight_global"] <= min(res["a"], res["b"], res["c"]) + 1e-12
    # `c` is far behind on the earlier origins: never within one standard error of the best
    assert res["within_1se"] <= max(res["a"], res["b"]) + 1e-12
    assert res["best_member"] in (res["a"], res["b"])


def test_a_bias_every_member_shares_is_what_the_factor_removes():
    forecasts, history = _panel(1)
    for m in ("a", "b", "c"):
        forecasts[m] = forecasts[Y] * 1.25  # every member 25% high, on every series
    res = probe(forecasts, history, ["a", "b", "c"])
    assert res["factor"] < 0.05 * res["global"]
    # the same factor wins on the latest validation origin: the checked rule takes it too
    assert res["factor_checked"] < 0.05 * res["best_member"]
    assert res["factor_checked_2"] < 0.05 * res["best_member"]
    assert not any(k.startswith("hindsight_factor_checked") for k in res)


def test_the_checked_factor_stays_at_one_when_the_bias_does_not_hold():
    forecasts, history = _panel(2)
    # 25% high on the first two origins, exact from the third on: the early factor fails late
    early = forecasts[CUTOFF] < WEEKS[44]
    for m in ("a", "b", "c"):
        forecasts[m] = np.where(early, forecasts[Y] * 1.25, forecasts[Y] + 0.5)
    res = probe(forecasts, history, ["a", "b", "c"])
    assert res["factor_checked"] == res["best_member"]
    assert res["factor_checked_2"] == res["best_member"]


def test_the_factor_checked_on_two_origins_needs_the_bias_on_both():
    forecasts, history = _panel(3)
    # 25% high everywhere except at the second-latest validation origin (near exact there): the
    # one-origin check passes where the two-origin check fails
    skip = forecasts[CUTOFF] == WEEKS[40]
    for m in ("a", "b", "c"):
        forecasts[m] = np.where(skip, forecasts[Y] + 0.5, forecasts[Y] * 1.25)
    res = probe(forecasts, history, ["a", "b", "c"])
    assert res["factor_checked"] < 0.05 * res["best_member"]
    assert res["factor_checked_2"] == res["best_member"]


def test_the_factor_checked_per_zero_share_group_removes_a_bias_of_the_sparse_series_only():
    forecasts, history = _panel(4)
    # every member 25% high on the intermittent series (exact at 0.8) and half a unit high on the
    # steady ones: one factor for all cannot undo both, one per zero-share group can
    sparse = forecasts[ID] < "s20"
    for m in ("a", "b", "c"):
        forecasts[m] = np.where(sparse, forecasts[Y] * 1.25, forecasts[Y] + 0.5)
    res = probe(forecasts, history, ["a", "b", "c"])
    assert res["factor_checked_2_zero"] < res["factor_checked_2"] < res["best_member"] + 1e-12
    assert res["factor_checked_2_zero"] < 0.75 * res["best_member"]
