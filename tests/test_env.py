"""The process environment (telemetry off, OpenMP threads that sleep while they wait) has one
home: darkhorse/core/process.env."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from darkhorse.core.env import ENV_FILE, OPENMP_WAIT, PROCESS_ENV, _read_env_file
from tests.conftest import REPO, openmp_import_watch

SELF = Path(__file__).resolve()


def test_process_env_lists_the_telemetry_switches() -> None:
    assert PROCESS_ENV["FEAST_USAGE"] == "False"
    assert PROCESS_ENV["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert PROCESS_ENV["OTEL_SDK_DISABLED"] == "true"
    assert set(PROCESS_ENV) >= {"BENTOML_DO_NOT_TRACK", "GX_ANALYTICS_ENABLED", "HF_HUB_OFFLINE"}


def test_a_bad_line_names_the_file_and_line(tmp_path) -> None:
    bad = tmp_path / "x.env"
    bad.write_text("# comment\nA=1\nno equals sign\n")
    try:
        _read_env_file(bad)
    except ValueError as e:
        assert f"{bad}:3" in str(e)
    else:
        raise AssertionError("a line without '=' was accepted")


def test_no_other_file_spells_the_variables_out() -> None:
    """Code, Makefile and configs name the list, never a copy of its values."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.yml", "*.yaml", "*.sh", "Makefile"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    names = "|".join(map(re.escape, PROCESS_ENV))
    pattern = re.compile(rf"""["']?\b({names})\b["']?\s*(:=|=|:|,)""")
    copies = [
        f"{path}:{n}: {line.strip()}"
        for path in tracked
        if (REPO / path).is_file() and (REPO / path) not in (ENV_FILE, SELF)
        for n, line in enumerate((REPO / path).read_text().splitlines(), start=1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert not copies, "process variables set outside darkhorse/core/process.env:\n" + "\n".join(copies)


@pytest.mark.parametrize("caller", [{}, {OPENMP_WAIT: "active", "DO_NOT_TRACK": "0"}], ids=["unset", "set"])
def test_the_makefile_exports_the_list(caller: dict[str, str]) -> None:
    """Every make target runs with the list; a value the caller set wins there too (as `?=`, not
    as an `include`, which would override the caller's environment)."""
    out = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", "-", "show-env"],
        input="show-env:\n\t@env\n", cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", **caller},
    ).stdout
    exported = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: exported.get(k) for k in PROCESS_ENV} == {**PROCESS_ENV, **caller}


def test_openmp_threads_sleep_while_they_wait() -> None:
    """Spinning OpenMP threads (libgomp's default) made a process beside another on 2 cores 2.75
    to over 5 times slower (make bench-threads); the list asks for passive waiting."""
    assert OPENMP_WAIT == "OMP_WAIT_POLICY"
    assert PROCESS_ENV[OPENMP_WAIT] == "passive"


@pytest.mark.parametrize("module", ["training", "benchmarks", "darkhorse.app.cli"])
def test_entry_points_apply_the_list_before_openmp_loads(module: str) -> None:
    """libgomp reads OMP_WAIT_POLICY once, when it loads: the packages that fit boosters (and the
    CLI) set it on import, before XGBoost, torch or scikit-learn is loaded; a value the caller
    set wins."""
    code = "\n".join([
        openmp_import_watch(("xgboost", "torch", "sklearn", "lightgbm")),
        f"import {module}",
        "import xgboost",
        "print(sorted(set(seen.values())))",
    ])

    def run(**extra: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != OPENMP_WAIT} | extra
        return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert run() == "['passive']"
    assert run(**{OPENMP_WAIT: "active"}) == "['active']"
