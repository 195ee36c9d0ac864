"""Publishing a candidate switches the marts link atomically and keeps older snapshots."""

from __future__ import annotations

import pytest

from darkhorse.core import publish as pub
from tests.conftest import write_config


@pytest.fixture
def cfg(tmp_path):
    return write_config(tmp_path, [{"name": "s", "kind": "sales", "path": "x.csv"}])


def _candidate(cfg, run_id, payload):
    d = pub.candidate_dir(cfg, run_id)
    d.mkdir(parents=True)
    (d / "item_weeks.parquet").write_text(payload)
    return d


def test_publish_switches_the_link_and_records_a_manifest(cfg):
    assert pub.current_snapshot(cfg) is None and pub.read_manifest(cfg) is None
    pub.publish(cfg, _candidate(cfg, "r1", "one"), "r1", {"row_counts": {"item_weeks": 1}})
    assert cfg.marts_dir.is_symlink()
    assert (cfg.marts_dir / "item_weeks.parquet").read_text() == "one"
    pub.publish(cfg, _candidate(cfg, "r2", "two"), "r2", {"row_counts": {"item_weeks": 2}})
    assert (cfg.marts_dir / "item_weeks.parquet").read_text() == "two"
    assert pub.read_manifest(cfg) == {"row_counts": {"item_weeks": 2}, "run_id": "r2"}
    # the candidate moved (nothing copied) and the older snapshot is still there
    assert not pub.candidate_dir(cfg, "r2").exists()
    assert (pub.published_root(cfg) / "r1" / "item_weeks.parquet").read_text() == "one"


def test_old_snapshots_are_pruned_but_never_the_current(cfg):
    for i in range(6):
        pub.publish(cfg, _candidate(cfg, f"r{i}", str(i)), f"r{i}", {})
    names = sorted(p.name for p in pub.published_root(cfg).iterdir())
    assert names == ["r3", "r4", "r5"]
    assert pub.current_snapshot(cfg).name == "r5"


def test_a_real_folder_in_the_way_is_set_aside_not_deleted(cfg):
    cfg.marts_dir.mkdir(parents=True)
    (cfg.marts_dir / "old.parquet").write_text("keep me")
    pub.publish(cfg, _candidate(cfg, "r1", "one"), "r1", {})
    aside = [p for p in cfg.marts_dir.parent.iterdir() if p.name.startswith("marts.before-publish-")]
    assert len(aside) == 1 and (aside[0] / "old.parquet").read_text() == "keep me"
    assert cfg.marts_dir.is_symlink()


def test_data_snapshot_id_changes_with_the_file(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x")
    a = pub.data_snapshot_id([str(f)])
    f.write_text("xy")
    assert pub.data_snapshot_id([str(f)]) != a


def test_relative_marts_path_stays_the_link_across_publishes(tmp_path):
    """A config with relative paths (the shipped layout) keeps pointing at the link."""
    import yaml

    from darkhorse.core.config import load_config

    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump({
        "sources": [{"name": "s", "kind": "sales", "path": "x.csv"}],
        "paths": {"data_dir": "data", "duckdb": "data/d.duckdb", "marts": "data/marts"},
    }))
    cfg = load_config(tmp_path / "darkhorse.yaml")
    pub.publish(cfg, _candidate(cfg, "r1", "one"), "r1", {})
    cfg = load_config(tmp_path / "darkhorse.yaml")
    assert cfg.marts_dir == tmp_path / "data" / "marts" and cfg.marts_dir.is_symlink()
    pub.publish(cfg, _candidate(cfg, "r2", "two"), "r2", {})
    assert pub.current_snapshot(cfg).name == "r2"
    assert (cfg.marts_dir / "item_weeks.parquet").read_text() == "two"


def test_the_warehouse_views_over_the_marts_follow_the_publish(cfg):
    """dbt leaves views in the DuckDB file over the candidate's Parquet files; after the publish
    renames the candidate they read the published marts (not "No files found")."""
    import duckdb

    d = pub.candidate_dir(cfg, "r1")
    d.mkdir(parents=True)
    cfg.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(cfg.duckdb_path))
    con.execute(f"copy (select range as n from range(5)) to '{d}/item_weeks.parquet' (format parquet)")
    con.execute(f"create view item_weeks as select * from read_parquet('{d}/item_weeks.parquet')")
    con.execute("create view other as select 1 as one")
    con.close()
    pub.publish(cfg, d, "r1", {"row_counts": {"item_weeks": 5}})
    con = duckdb.connect(str(cfg.duckdb_path), read_only=True)
    try:
        assert con.sql("select count(*) from item_weeks").fetchall() == [(5,)]
        sql = con.sql("select sql from duckdb_views() where view_name = 'item_weeks'").fetchall()[0][0]
        assert str(cfg.marts_dir) in sql and str(d) not in sql
        assert con.sql("select * from other").fetchall() == [(1,)]
    finally:
        con.close()
