"""`cd dbt_project && dbt build` works on its own, with the defaults in dbt_project.yml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from darkhorse.core.env import PROCESS_ENV
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_plain_dbt_build_passes_on_the_shipped_data(tmp_path):
    env = {
        **os.environ,
        **PROCESS_ENV,
        "DARKHORSE_DUCKDB_PATH": str(tmp_path / "plain.duckdb"),
        "DARKHORSE_MARTS_DIR": str(tmp_path / "marts"),
    }
    (tmp_path / "marts").mkdir()
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "build", "--profiles-dir", ".", "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs")],
        cwd=REPO / "dbt_project", env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "ERROR=0" in proc.stdout
    n_items = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/marts/items.parquet')").fetchall()[0][0]
    assert n_items > 3000


def test_a_darkhorse_run_of_dbt_keeps_its_artefacts_beside_the_configs_data(tmp_path, monkeypatch):
    """dbt under `darkhorse` writes target/ and logs/ into the config's data folder: the project
    folder every config shares is left alone, so two builds at once never write the same files."""
    from darkhorse.app.dbt_runner import run_dbt
    from tests.conftest import RAW, write_config

    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.delenv("DBT_LOG_PATH", raising=False)
    cfg = write_config(tmp_path, [{"name": "online_retail", "kind": "order_lines",
                                   "path": str(RAW / "online_retail" / "online_retail.parquet")}])
    project_target = REPO / "dbt_project" / "target" / "manifest.json"
    before = project_target.stat().st_mtime_ns if project_target.exists() else None
    assert run_dbt(cfg, ["parse"])
    assert (cfg.data_dir / "dbt" / "target" / "manifest.json").is_file()
    assert (cfg.data_dir / "dbt" / "logs" / "dbt.log").is_file()
    after = project_target.stat().st_mtime_ns if project_target.exists() else None
    assert after == before
