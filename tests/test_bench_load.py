"""The load replay harness (benchmarks/bench_load.py) on the shortest shipped trace."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import bench_load


def test_interval_load_keeps_complete_intervals_dense():
    trace = bench_load.TRACES["azure_llm"]
    load = bench_load.interval_load(trace)
    raw = pd.to_datetime(pd.read_csv(bench_load.RAW / trace.file)[trace.timestamp])
    first = raw.min().floor("1min") + pd.Timedelta("1min")
    last = raw.max().floor("1min") - pd.Timedelta("1min")
    assert load["ds"].iloc[0] == first and load["ds"].iloc[-1] == last
    assert load["ds"].diff().dropna().eq(pd.Timedelta("1min")).all()
    inside = raw[(raw >= first) & (raw < last + pd.Timedelta("1min"))]
    assert load["y"].sum() == len(inside)


def test_replay_compares_the_plans_on_the_same_intervals():
    result = bench_load.replay(bench_load.TRACES["azure_llm"])
    plans = {r["plan"].split(" (")[0] for r in result["rows"]}
    assert {"darkhorse", "reactive", "static peak"} <= plans
    assert any(r["plan"].startswith("reactive, same SLO") for r in result["rows"])
    ensemble = next(r for r in result["rows"] if r["plan"] == "darkhorse (ensemble)")
    static = next(r for r in result["rows"] if r["plan"] == "static peak")
    assert static["scaling_actions"] == 0
    # same intervals: replica-hours are sums over the same number of intervals of 1 minute
    assert ensemble["replica_hours"] > 0 and static["replica_hours"] > 0
    assert "azure_llm" in bench_load.render(result)


@pytest.mark.slow  # two fits of the default member on the ELB trace
def test_fit_threads_times_one_thread_against_more_and_finds_the_same_forecast():
    r = bench_load.fit_threads(bench_load.TRACES["elb"], repeats=1)
    one, more = r["threads"]
    assert one == 1 and more >= 2
    assert all(len(v) == 1 and v[0] > 0 for v in r["seconds"].values())
    assert r["max_difference"] == 0.0 and r["ratio"] > 0
    # the shortest trace holds too few intervals for the default member: reported, not raised
    short = bench_load.fit_threads(bench_load.TRACES["azure_llm"], repeats=1)
    assert "before its last" in short["skipped"]
