"""Timestamps that carry their own offset (`2023-03-12T01:45:00-05:00`) are read at it: a log
written in local time with offsets across a daylight-saving change builds one interval per
quarter hour in UTC, none missing and none doubled."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core.config import load_config
from tests.conftest import write_config


@pytest.mark.integration
def test_a_log_with_offsets_across_a_clock_change_builds_continuous_utc_intervals(tmp_path):
    # one request every 15 minutes, written as New York's clocks show it: -05:00, then -04:00
    # from 2023-03-12 03:00 (02:00 to 03:00 never happens there)
    instants = pd.date_range("2023-03-10 00:00", "2023-03-14 00:00", freq="15min", tz="UTC", inclusive="left")
    local = instants.tz_convert("America/New_York")
    stamps = [t.strftime("%Y-%m-%dT%H:%M:%S") + t.strftime("%z")[:3] + ":" + t.strftime("%z")[3:] for t in local]
    assert stamps[0] == "2023-03-09T19:00:00-05:00" and stamps[-1] == "2023-03-13T19:45:00-04:00"
    log = tmp_path / "requests.csv"
    pd.DataFrame({"ts": stamps, "n": 1}).to_csv(log, index=False)
    cfg = write_config(tmp_path, [{"name": "api", "kind": "request_log", "path": str(log),
                                   "columns": {"timestamp": "ts", "count": "n"}}])
    doc = cfg.model_dump(mode="json")
    doc["load"] = {"grain": "15min", "lookback_intervals": 4}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config(tmp_path / "darkhorse.yaml")
    build(cfg, features=False)
    counts = duckdb.sql(
        f"select requests, count(*) from read_parquet('{cfg.marts_dir}/series_intervals.parquet') group by 1"
    ).fetchall()
    # every interval of the four UTC days holds exactly its one request (the last one, holding
    # the log's last point, is left out as partial)
    assert counts == [(1.0, len(instants) - 1)]
