"""Run the dbt project with a config's values as vars and its paths as environment variables
(the same variables `profiles.yml` reads)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from darkhorse.core.config import Config
from darkhorse.core.env import OFFLINE_ENV
from darkhorse.core.errors import DarkHorseError


class BuildError(DarkHorseError, RuntimeError):
    """The dbt build failed (a model or a data test); details were printed by dbt."""


def dbt_env(config: Config, marts_dir: Path | None = None) -> dict[str, str]:
    """Environment variables profiles.yml reads, from the config's paths."""
    return {
        "DARKHORSE_DUCKDB_PATH": str(config.duckdb_path),
        # never the published folder: a plain dbt run builds a candidate the gate has not seen
        "DARKHORSE_MARTS_DIR": str(marts_dir or config.candidates_dir / "dbt"),
    }


def dbt_args(config: Config, command: list[str]) -> list[str]:
    project = str(config.dbt_project_dir)
    return [
        *command,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--vars",
        json.dumps(config.dbt_vars()),
    ]


def dbt_executable() -> str:
    """The dbt of this environment (beside the running interpreter), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(config: Config, command: list[str], *, marts_dir: Path | None = None) -> bool:
    """Run a dbt command with the config's vars and paths; True on success.

    dbt runs in its own process: it holds the DuckDB file open (one writer per file) until it
    exits, and its output streams to the terminal as it goes.
    """
    env = {**OFFLINE_ENV, **os.environ, **dbt_env(config, marts_dir)}
    config.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    Path(env["DARKHORSE_MARTS_DIR"]).mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([dbt_executable(), *dbt_args(config, command)], env=env, check=False)
    except OSError as e:
        raise BuildError(f"cannot start dbt: {e}") from None
    return proc.returncode == 0
