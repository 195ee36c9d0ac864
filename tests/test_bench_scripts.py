"""The benchmark scripts the Makefile runs: each one starts (its imports resolve, its arguments
parse). The customer-demand bench's table is checked on the backtest of
test_backtest_windows.test_a_member_waits_for_a_panel_that_spans_its_min_history_weeks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import REPO

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

