"""A build killed between dbt and the publish changes nothing that readers see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from darkhorse.app.build import build
from darkhorse.core import publish as pub
from darkhorse.core.config import load_config
from tests.conftest import REPO, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAUSED_BUILD = """
import sys, time
from darkhorse.core import publish

def paused(*args, **kwargs):
    print("pausing before publishing", file=sys.stderr, flush=True)
    time.sleep(300)
    raise SystemExit("not killed during the pause")

publish.publish = paused
sys.argv = ["darkhorse", "build", "--config", sys.argv[1]]
from darkhorse.app.cli import main
main()
"""


def test_killed_build_leaves_published_marts_and_online_store_serving(tmp_path):
    from darkhorse.core.features import online_features

    default = load_config(REPO / "darkhorse.yaml")
    src = default.sources[0].model_dump(mode="json")
    src["path"] = str(REPO / "data/raw/online_retail/online_retail.parquet")
    cfg = write_config(tmp_path, [src])
    build(cfg)
    before = pub.current_snapshot(cfg)
    manifest = pub.read_manifest(cfg)
    items = ["85123A", "22423", "no-such-item"]
    online_before = online_features(cfg, items)
    assert online_before.unknown_items == ["no-such-item"]

    # `darkhorse build` in a process whose publish step first says so and waits: the window
    # in which it is killed (dbt has rebuilt the DuckDB file and a candidate, the gate passed)
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_BUILD, str(cfg.root / "darkhorse.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        for line in proc.stderr:
            if "pausing" in line:
                break
            assert time.monotonic() < deadline, "the build never reached the publish step"
        else:
            pytest.fail(f"build ended before the publish step (rc={proc.wait()})")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    assert pub.current_snapshot(cfg) == before
    assert pub.read_manifest(cfg) == manifest
    rows = duckdb.sql(f"select count(*) from read_parquet('{cfg.marts_dir}/item_weeks.parquet')").fetchall()[0][0]
    assert rows == manifest["row_counts"]["item_weeks"]
    # the unpublished candidate is still there to inspect, and is not what readers see
    candidates = [p for p in cfg.candidates_dir.iterdir() if p.is_dir() and p.name != "dbt"]
    assert candidates and all(p.resolve() != before for p in candidates)
    online_after = online_features(cfg, items)
    assert online_after.unknown_items == online_before.unknown_items
    assert online_after.features.equals(online_before.features)
