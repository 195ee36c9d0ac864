"""The benchmark scripts the Makefile runs: each one starts (its imports resolve, its arguments
parse), and the customer-demand bench's table holds the members the panel fitted."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks import bench_customer_demand
from darkhorse.core.config import ModelSpec, load_config
from training.backtest import BLEND, run_backtest

from .conftest import REPO
from .test_backtest_windows import _config, panel  # noqa: F401  (the module's 30-item panel fixture)

SCRIPTS = sorted(set(re.findall(r"benchmarks/(bench_[a-z0-9_]+\.py)", (REPO / "Makefile").read_text())))


def test_the_makefile_names_every_bench_script() -> None:
    on_disk = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))
    assert on_disk == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bench_script_starts(script: str) -> None:
    """`--help` imports everything the script imports at its top and builds its parser: a moved
    module or a renamed name fails here, not in a user's hour-long run."""
    out = subprocess.run([sys.executable, f"benchmarks/{script}", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage:")


def test_the_customer_demand_table_leaves_out_what_the_panel_did_not_fit(panel) -> None:  # noqa: F811
    """A member under its `min_history_weeks` (as `xgboost_long` on a 52-week panel) has no
    metrics: the table lists the fitted members and the blend (it raised KeyError before)."""
    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4}),
             ModelSpec(model="moving_average", alias="ma_long", params={"window": 26},
                       min_history_weeks=panel.history.n_weeks + 1)]
    cfg = _config(panel).model_copy(
        update={"forecast": load_config(REPO / "darkhorse.yaml").forecast.model_copy(update={"models": specs})})
    met = run_backtest(cfg, history=panel.history, show_progress=False).metrics
    rows = bench_customer_demand.table(met, specs)
    assert [r["model"] for r in rows] == ["naive", "moving_average", BLEND]
    assert all(r["MASE"] == met["models"][r["model"]]["mase"] for r in rows)
    assert "ma_long" in met["members_left_out"]
