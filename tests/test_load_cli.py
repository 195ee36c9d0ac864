"""`darkhorse load plan`: replicas for the intervals after the published interval panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from darkhorse.app.cli import app
from tests.conftest import write_config


def test_load_plan_prints_the_plan_without_touching_the_service_state(tmp_path):
    sources = [{"name": "shop", "kind": "sales", "path": "sales.csv"},
               {"name": "lb", "kind": "request_log", "path": "log.csv"}]
    cfg = write_config(tmp_path, sources)
    cfg.marts_dir.mkdir(parents=True)
    ds = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    pd.DataFrame({"series_id": "api", "interval_start": ds, "requests": np.full(48, 250.0)}).to_parquet(
        cfg.marts_dir / "series_intervals.parquet"
    )
    res = CliRunner().invoke(app, ["load", "plan", "--config", str(cfg.path), "--horizon", "3", "--throughput", "100"])
    assert res.exit_code == 0, res.output
    assert "2024-01-03 00:00" in res.output and "2024-01-03 02:00" in res.output
    # a flat 250 requests an hour: every quantile is 250, three replicas of 100
    assert res.output.count(" 3 ") >= 3 and "300.0" in res.output
    assert "replica-hours 9.00" in res.output
    assert not (cfg.data_dir / "load_state").exists()


def test_load_plan_needs_a_request_log_source(tmp_path):
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "sales", "path": "sales.csv"}])
    res = CliRunner().invoke(app, ["load", "plan", "--config", str(cfg.path)])
    assert res.exit_code == 2 and "no request_log source" in " ".join(res.output.split())
