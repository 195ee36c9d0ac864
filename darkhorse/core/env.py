"""Environment every DarkHorse process runs with: telemetry off, nothing fetched at run time,
OpenMP threads that sleep while they wait.

The variables live in `process.env` beside this file (the Makefile reads the same file);
`PROCESS_ENV` is that list, `set_process_defaults()` applies it. OpenMP reads its variable when
the library loads, so a process applies the list before it imports XGBoost, torch or
scikit-learn.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_FILE = Path(__file__).with_name("process.env")


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{n}: expected KEY=value, got {line!r}")
        values[key.strip()] = value.strip()
    return values


PROCESS_ENV: dict[str, str] = _read_env_file(ENV_FILE)
# the variable OpenMP reads its wait policy from, once, when the library loads (its value: the list's)
OPENMP_WAIT = "OMP_WAIT_POLICY"


def set_process_defaults() -> None:
    """Set the variables above unless the caller's environment already says otherwise."""
    for key, value in PROCESS_ENV.items():
        os.environ.setdefault(key, value)
