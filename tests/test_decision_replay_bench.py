"""`benchmarks.accuracy.decision_replay`: the newsvendor's regret on stored suite forecasts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.accuracy.decision_replay import main, panel_regret
from training.decisions import replay


def _forecasts(seed: int, **shifts: float) -> pd.DataFrame:
    """50 items with normal weekly demand (mean 20, sd 4) over 2 origins (the later one scored);
    each named model forecasts the true quantiles moved up by its shift."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, cutoff in enumerate(pd.to_datetime(["2024-01-01", "2024-02-05"])):
        for i in range(50):
            for k in range(1, 13):
                y = max(rng.normal(20, 4), 0.0)
                row = {"unique_id": f"i{i}", "ds": cutoff + pd.Timedelta(weeks=k), "cutoff": cutoff,
                       "window": "eval" if c else "warmup", "y": y}
                for m, shift in shifts.items():
                    row[m] = row[f"{m}-q50"] = 20.0 + shift
                    row[f"{m}-q10"], row[f"{m}-q90"] = 20.0 + shift - 5.13, 20.0 + shift + 5.13
                rows.append(row)
    return pd.DataFrame(rows)


def test_panel_regret_is_the_replays_mean_per_period_and_ranks_a_biased_forecast_worse():
    fc = _forecasts(0, good=0.0, biased=8.0)
    got = panel_regret(fc, ["good", "biased"], "sum")
    assert got["good"]["all"] < got["biased"]["all"]
    scen = pd.DataFrame(replay(fc, ["good"], [pd.Timestamp("2024-02-05")])["scenarios"])
    scen = scen[scen["method"] == "sum"]
    assert got["good"]["all"] == pytest.approx(scen["regret_per_unit"].mean())
    assert got["good"]["p4"] == pytest.approx(scen.loc[scen["period"] == 4, "regret_per_unit"].mean())


def test_two_runs_side_by_side(tmp_path, capsys):
    for run, shift in (("a", 8.0), ("b", 0.0)):  # run a's blend is biased, run b's holds
        folder = tmp_path / run / "panels" / "weekly_sales"
        folder.mkdir(parents=True)
        _forecasts(1, blend=shift).to_parquet(folder / "forecasts.parquet")
    out = tmp_path / "r.json"
    assert main(["--run", str(tmp_path / "a"), "--run", str(tmp_path / "b"), "--panels", "weekly_sales",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())["weekly_sales"]
    a, b = res[str(tmp_path / "a")]["blend"], res[str(tmp_path / "b")]["blend"]
    assert b["all"] < a["all"]  # the biased blend of run a regrets more
    assert "weekly_sales" in capsys.readouterr().out
