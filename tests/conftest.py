"""Shared fixtures: configs written into tmp dirs that point at the real dbt project."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from darkhorse.core.config import Config, load_config
from darkhorse.core.env import OPENMP_WAIT, set_process_defaults
from training.device import THREADS_ENV, cpu_threads

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"

set_process_defaults()
# the xdist workers share the cores: boosters left at "every core" (n_jobs 0) get their share,
# not each all of them (training.device.cpu_threads)
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault(THREADS_ENV, str(max(1, cpu_threads() // _workers)))
# tests never touch the user's BentoML store: one throwaway store per test session
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="darkhorse-test-bentoml-")
atexit.register(shutil.rmtree, os.environ["BENTOML_HOME"], ignore_errors=True)


def openmp_import_watch(names: tuple[str, ...]) -> str:
    """Python lines that record in `seen` what the OpenMP wait policy says ('unset' when it is not
    set) when each module of `names` is first imported: libgomp reads it once, when it loads."""
    return "\n".join([
        "import os, sys",
        "seen = {}",
        "class Watch:",
        "    def find_spec(self, name, path=None, target=None):",
        f"        if name in {names!r}:",
        f"            seen.setdefault(name, os.environ.get('{OPENMP_WAIT}') or 'unset')",
        "sys.meta_path.insert(0, Watch())",
    ])


def write_config(
    workdir: Path, sources: list[dict[str, Any]], panel: dict[str, Any] | None = None
) -> Config:
    """A config in `workdir` whose DuckDB file and marts live there too."""
    workdir.mkdir(parents=True, exist_ok=True)
    doc = {
        "project": "darkhorse",
        "sources": sources,
        "panel": panel or {},
        "paths": {
            "data_dir": str(workdir / "data"),
            "duckdb": str(workdir / "data" / "darkhorse.duckdb"),
            "marts": str(workdir / "data" / "marts"),
            "dbt_project": str(REPO / "dbt_project"),
        },
        "feast": {"repo": str(REPO / "feature_repo")},
    }
    path = workdir / "darkhorse.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_config(path)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def weekly_sales_built(tmp_path_factory):
    """The weekly-sales example built once per session (tests/fixtures/weekly_sales.py)."""
    from tests.fixtures.weekly_sales import build_weekly_sales

    return build_weekly_sales(tmp_path_factory.mktemp("weekly_sales_built"))


@pytest.fixture(scope="session")
def online_retail_built(tmp_path_factory):
    """The shipped Online Retail file built (no Feast) once per session
    (tests/fixtures/online_retail.py)."""
    from tests.fixtures.online_retail import build_online_retail

    return build_online_retail(tmp_path_factory.mktemp("online_retail_built"))


@pytest.fixture(scope="session")
def weekly_release(weekly_sales_built, tmp_path_factory):
    """One trained and released weekly-sales bento shared by the serving tests
    (tests/serving_fixtures.py); tests that train again write to outputs of their own."""
    from tests.serving_fixtures import make_release

    return make_release(weekly_sales_built, tmp_path_factory.mktemp("release"))
