"""dbt_project.yml's vars are generated from darkhorse.yaml (one source of truth)."""

from __future__ import annotations

import pytest
import yaml

from darkhorse.app import dbt_defaults
from darkhorse.core.config import load_config
from tests.conftest import REPO

PROJECT_FILE = REPO / "dbt_project" / "dbt_project.yml"


def test_dbt_project_vars_are_those_of_darkhorse_yaml() -> None:
    config = load_config(REPO / "darkhorse.yaml")
    shipped = yaml.safe_load(PROJECT_FILE.read_text())["vars"]
    assert shipped == dbt_defaults.project_vars(config), (
        "dbt_project/dbt_project.yml is out of date: run python -m darkhorse.app.dbt_defaults"
    )
    assert shipped["raw_sources"]["order_lines"]["paths"] == ["../data/raw/online_retail/online_retail.parquet"]
    assert dbt_defaults.main(["--config", str(REPO / "darkhorse.yaml"), "--check"]) == 0


def test_a_changed_config_rewrites_only_the_block(tmp_path) -> None:
    doc = yaml.safe_load((REPO / "darkhorse.yaml").read_text())
    doc["panel"]["lookback_weeks"] = 6
    doc["sources"][0]["path"] = str(REPO / doc["sources"][0]["path"])
    doc["paths"] = {"dbt_project": str(tmp_path / "dbt")}
    (tmp_path / "dbt").mkdir()
    project = tmp_path / "dbt" / "dbt_project.yml"
    project.write_text(PROJECT_FILE.read_text())
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    assert dbt_defaults.main(["--config", str(tmp_path / "darkhorse.yaml"), "--check"]) == 1
    assert dbt_defaults.main(["--config", str(tmp_path / "darkhorse.yaml")]) == 0
    new = yaml.safe_load(project.read_text())
    old = yaml.safe_load(PROJECT_FILE.read_text())
    assert new["vars"]["lookback_weeks"] == 6
    assert {k: v for k, v in new.items() if k != "vars"} == {k: v for k, v in old.items() if k != "vars"}
    assert dbt_defaults.main(["--config", str(tmp_path / "darkhorse.yaml"), "--check"]) == 0


def test_a_project_file_without_markers_is_refused(tmp_path) -> None:
    config = load_config(REPO / "darkhorse.yaml")
    with pytest.raises(dbt_defaults.DbtDefaultsError, match=r"dbt_project\.yml"):
        dbt_defaults.render(config, "name: x\nvars: {}\n", file=tmp_path / "dbt_project.yml")
