"""The contention benchmark: its settings, its table and one timed unit of work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import bench_threads as B
from darkhorse.core.config import load_config
from darkhorse.core.env import OPENMP_WAIT
from tests.conftest import REPO, openmp_import_watch
from training.device import THREADS_ENV


def test_each_setting_reaches_the_timed_process_as_named(monkeypatch) -> None:
    monkeypatch.setenv(OPENMP_WAIT, "passive")
    monkeypatch.setenv(THREADS_ENV, "7")
    spin, passive, one = B._env("spin"), B._env("passive"), B._env("passive-1")
    assert OPENMP_WAIT not in spin and THREADS_ENV not in spin
    assert passive[OPENMP_WAIT] == "passive" and THREADS_ENV not in passive
    assert one[OPENMP_WAIT] == "passive" and one[THREADS_ENV] == "1"


def test_the_table_is_read_against_spin_alone_and_marks_stopped_runs() -> None:
    cells = {("spin", "alone"): [(10.0, False), (12.0, False), (11.0, False)],
             ("spin", "pair"): [(150.0, True), (150.0, True)],
             ("passive", "pair"): [(13.2, False), (14.0, False)]}
    text, rows = B.table(cells)
    by = {(r["setting"], r["situation"]): r for r in rows}
    assert by[("spin", "alone")]["ratio"] == 1.0
    assert by[("spin", "pair")]["ratio"] == round(150 / 11, 2) and by[("spin", "pair")]["stopped_at_limit"]
    assert by[("passive", "pair")]["ratio"] == round(13.6 / 11, 2) and not by[("passive", "pair")]["stopped_at_limit"]
    assert "| spin | pair | >=150.0 | >=13.64 |" in text


@pytest.mark.parametrize(("setting", "at_load"), [
    ("spin", {"xgboost": "unset", "torch": "unset"}),
    ("passive", {"xgboost": "passive"}),  # the default members never load torch
])
def test_the_timed_process_loads_openmp_under_its_setting(setting: str, at_load: dict[str, str]) -> None:
    """libgomp reads OMP_WAIT_POLICY once, when XGBoost (or torch, its own copy) loads it; the
    DarkHorse packages set the variable on import, so `spin` must load both before them to run
    with libgomp's default."""
    code = "\n".join([
        openmp_import_watch(("xgboost", "torch")),
        "from benchmarks import bench_threads as B",
        "real = B.work",  # the real imports and fits, on a panel of one store
        "B.work = lambda config, *a: (real(config, 1, 4, 0), seen)[1]",
        f"B.main(['--child', '--setting', '{setting}'])",
    ])
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=B._env(setting), capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == at_load


def test_one_unit_of_work_fits_every_enabled_member() -> None:
    out = B.work(REPO / "darkhorse.yaml", stores=1, departments=4, seed=0)
    enabled = [s.name for s in load_config(REPO / "darkhorse.yaml").forecast.models if s.enabled]
    assert list(out["members"]) == enabled
    assert out["series"] >= 1
    assert out["wall_s"] >= max(out["members"].values())
