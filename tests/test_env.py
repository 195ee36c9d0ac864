"""The telemetry-off variables have one home: darkhorse/core/offline.env."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from darkhorse.core.env import ENV_FILE, OFFLINE_ENV, _read_env_file
from tests.conftest import REPO

SELF = Path(__file__).resolve()


def test_offline_env_lists_the_telemetry_switches() -> None:
    assert OFFLINE_ENV["FEAST_USAGE"] == "False"
    assert OFFLINE_ENV["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert OFFLINE_ENV["OTEL_SDK_DISABLED"] == "true"
    assert set(OFFLINE_ENV) >= {"BENTOML_DO_NOT_TRACK", "GX_ANALYTICS_ENABLED", "HF_HUB_OFFLINE"}


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
    names = "|".join(map(re.escape, OFFLINE_ENV))
    pattern = re.compile(rf"""["']?\b({names})\b["']?\s*(:=|=|:|,)""")
    copies = [
        f"{path}:{n}: {line.strip()}"
        for path in tracked
        if (REPO / path).is_file() and (REPO / path) not in (ENV_FILE, SELF)
        for n, line in enumerate((REPO / path).read_text().splitlines(), start=1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert not copies, "telemetry variables set outside darkhorse/core/offline.env:\n" + "\n".join(copies)


def test_the_makefile_exports_the_list() -> None:
    out = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", "-", "show-env"],
        input="show-env:\n\t@env\n", cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    exported = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: exported.get(k) for k in OFFLINE_ENV} == OFFLINE_ENV
