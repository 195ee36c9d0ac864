"""Run the dbt project with a config's values as vars and its paths as environment variables
(the same variables `profiles.yml` reads)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from darkhorse.core.config import Config
from darkhorse.core.env import PROCESS_ENV
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


def dbt_work_dirs(config: Config) -> dict[str, str]:
    """dbt's compiled SQL, run results and log beside this config's data (`data/dbt/`), not in
    the project folder all configs share: two builds of different configs at once never write
    the same files. `DBT_TARGET_PATH` / `DBT_LOG_PATH` set by the caller win."""
    default = {"DBT_TARGET_PATH": config.data_dir / "dbt" / "target", "DBT_LOG_PATH": config.data_dir / "dbt" / "logs"}
    return {k: os.environ.get(k) or str(v) for k, v in default.items()}


def dbt_args(config: Config, command: list[str], extra_vars: dict | None = None) -> list[str]:
    project = str(config.dbt_project_dir)
    return [
        *command,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--vars",
        json.dumps({**config.dbt_vars(), **(extra_vars or {})}),
    ]


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int):
    """A `preexec_fn`: the child is killed (SIGKILL) when the process that started it dies,
    however it dies (a SIGKILL of the build included), so no dbt is left holding the DuckDB
    file. Linux only (prctl); elsewhere the child stays in the build's process group, which a
    group kill (`kill -- -PGID`, Ctrl-C in a terminal) reaches."""

    def set_death_signal() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal


def dbt_executable() -> str:
    """The dbt of this environment (beside the running interpreter), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(
    config: Config,
    command: list[str],
    *,
    marts_dir: Path | None = None,
    extra_vars: dict | None = None,
) -> bool:
    """Run a dbt command with the config's vars (plus `extra_vars`) and paths; True on success.

    dbt runs in a child process of the caller, in its process group, and dies with it: it
    holds the DuckDB file open (one writer per file) until it exits, so a build killed while
    dbt runs must not leave it behind. Its output streams to the terminal as it goes; an
    interrupt (Ctrl-C, SIGTERM of the caller) stops dbt before the caller goes on.
    """
    env = {**PROCESS_ENV, **os.environ, **dbt_work_dirs(config), **dbt_env(config, marts_dir)}
    config.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    Path(env["DARKHORSE_MARTS_DIR"]).mkdir(parents=True, exist_ok=True)
    args = [dbt_executable(), *dbt_args(config, command, extra_vars)]
    try:
        proc = subprocess.Popen(args, env=env, preexec_fn=_die_with_parent(os.getpid()))
    except OSError as e:
        raise BuildError(f"cannot start dbt: {e}") from None
    try:
        return proc.wait() == 0
    finally:
        if proc.poll() is None:  # interrupted while dbt ran: it goes too
            proc.kill()
            proc.wait()
