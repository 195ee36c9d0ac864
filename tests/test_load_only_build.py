"""`darkhorse build` of a config whose only source is a request_log, from scratch: three days of
the shipped ELB trace go through dbt (the weekly marts built empty), the gate (the interval
panel and its drift against the last publish), the publish and Feast; then a cut copy of the
same trace is refused by the drift checks, naming the series and its intervals, and the last
publish stays in place."""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest
import yaml

from darkhorse.app.build import GateFailed, build
from darkhorse.core.config import GateConfig, load_config
from darkhorse.core.marts import ITEM_WEEKS_COLUMNS, mart_path
from tests.conftest import REPO, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ELB = REPO / "data" / "raw" / "request_load" / "elb_request_count_8c0756.csv"
ROWS = 864  # three days of 5-minute counts


def _quiet(*_args, **_kwargs) -> None:
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_only_build")
    log = tmp / "elb.csv"
    pd.read_csv(ELB).head(ROWS).to_csv(log, index=False)
    cfg = write_config(
        tmp, [{"name": "lb", "kind": "request_log", "path": str(log),
               "columns": {"timestamp": "timestamp", "count": "value"}}]
    )
    doc = cfg.model_dump(mode="json")
    doc["load"] = {"grain": "15min", "lookback_intervals": 4}
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config(tmp / "darkhorse.yaml")
    return cfg, build(cfg, features=True, progress=_quiet), log


def _rows(path) -> int:
    return duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0]


def test_a_request_log_alone_builds_gates_publishes_and_serves_features(built, capsys):
    cfg, summary, _ = built
    assert summary["gate"]["success"] is True
    # 00:04 .. 2014-04-12 23:59: the partial first interval and the one holding the last point are out
    load = summary["load_panel"]
    assert load == {"rows": 287, "series": 1, "first_interval": "2014-04-10 00:15:00+00:00",
                    "last_interval": "2014-04-12 23:45:00+00:00"}
    assert summary["panel"] == {"rows": 0, "items": 0, "weeks": 0}
    # the request log's rows: those before 00:15 fall in the partial first interval, those from
    # 04-13 00:00 in the interval holding the last timestamp
    stamps = pd.to_datetime(pd.read_csv(ELB).head(ROWS)["timestamp"])
    first = int((stamps < pd.Timestamp("2014-04-10 00:15")).sum())
    last = int((stamps >= pd.Timestamp("2014-04-13 00:00")).sum())
    lb = summary["sources"]["lb"]
    assert (lb["read"], lb["kept"], lb["quarantined"]) == (ROWS, ROWS - first - last, 0)
    assert lb["reasons"] == {"partial_first_interval": first, "partial_last_interval": last} == {
        "partial_first_interval": 3, "partial_last_interval": 1}
    from darkhorse.app.cli import print_summary

    print_summary(summary)
    printed = capsys.readouterr().out
    assert "interval load panel: 1 series, 287 rows" in printed
    assert "hot sellers" not in printed and "items x" not in printed  # no weekly panel to speak of
    marts = cfg.marts_dir
    assert _rows(mart_path(marts, "series_intervals")) == 287
    # the weekly marts are published empty, with their columns (no all-null row)
    assert _rows(mart_path(marts, "item_weeks")) == 0
    columns = [r[0] for r in duckdb.sql(f"describe select * from read_parquet('{mart_path(marts, 'item_weeks')}')").fetchall()]
    assert set(ITEM_WEEKS_COLUMNS) <= set(columns)
    manifest = json.loads((marts / "manifest.json").read_text())
    assert manifest["row_counts"] == {"series_intervals": 287}
    assert manifest["source_rows"] == {"lb": {"read": ROWS, "kept": ROWS}}
    # Feast serves the interval panel's latest window
    from darkhorse.core.features import series_online_features

    online = series_online_features(cfg, ["requests", "nope"])
    assert online["feature_at"].iloc[0] == pd.Timestamp("2014-04-13 00:00", tz="UTC")
    assert online["feature_at"].isna().iloc[1]


def test_a_cut_trace_is_refused_naming_the_series_and_the_last_publish_stays(built):
    cfg, _, log = built
    published = cfg.marts_dir.resolve()
    manifest = (cfg.marts_dir / "manifest.json").read_text()
    full = log.read_text()
    try:
        pd.read_csv(ELB).head(ROWS - 64).to_csv(log, index=False)  # the last 5 h 20 min cut off
        with pytest.raises(GateFailed) as refused:
            build(cfg, features=True, progress=_quiet)
    finally:
        log.write_text(full)
    message = str(refused.value)
    assert "intervals_lost_at_end=22" in message and "series_id=requests" in message
    assert "previous_last_interval=2014-04-12 23:45:00+00:00" in message
    assert "last_interval=2014-04-12 18:15:00+00:00" in message
    assert "gate.max_intervals_lost" in message
    assert "source_name=lb" in message and "gate.max_source_row_drop" in message
    assert cfg.marts_dir.resolve() == published
    assert (cfg.marts_dir / "manifest.json").read_text() == manifest


def test_a_vanished_series_is_named_and_allowed_only_under_its_knob(built, tmp_path):
    """The last publish had a second series: the gate lists it; max_vanished_series lets it go."""
    from expectations.gate import run_gate

    cfg, _, _ = built
    candidate = tmp_path / "candidate"
    shutil.copytree(cfg.marts_dir.resolve(), candidate)
    previous = tmp_path / "previous"
    previous.mkdir()
    duckdb.sql(
        f"""copy (
            select * from read_parquet('{candidate}/series_intervals.parquet')
            union all
            select * replace ('eu-west' as series_id)
            from read_parquet('{candidate}/series_intervals.parquet')
        ) to '{previous}/series_intervals.parquet' (format parquet)"""
    )
    manifest = json.loads((candidate / "manifest.json").read_text())
    result = run_gate(cfg, candidate_marts=candidate, duckdb_path=cfg.duckdb_path,
                      previous=manifest, previous_marts=previous)
    assert not result.success
    # the request log's raw suite and the interval panel's checks ran; no weekly suite did
    assert {v.dataset for v in result.validations} == {
        "raw_request_log", "staging_events_by_source", "source_rows", "series_intervals",
        "vanished_series", "interval_coverage", "mart_row_counts",
    }
    assert result.vanished_series == ["eu-west"]
    [failure] = result.failures
    assert failure.dataset == "vanished_series" and failure.table == "drift"
    assert "series_id=eu-west" in failure.message and "previous_last_interval=2014-04-12 23:45" in failure.message
    loose = cfg.model_copy(update={"gate": GateConfig(max_vanished_series=0.5)})
    again = run_gate(loose, candidate_marts=candidate, duckdb_path=cfg.duckdb_path,
                     previous=manifest, previous_marts=previous)
    assert again.success, again.summary()
    assert again.vanished_series == ["eu-west"]


def test_a_series_allowed_to_vanish_leaves_the_online_store(tmp_path):
    """Two series (endpoints a and b) built and materialized; b leaves the log: refused by
    default, published under gate.max_vanished_series, and b is no longer served online."""
    from darkhorse.core.features import series_online_features

    day = pd.read_csv(ELB).head(288)
    log = tmp_path / "endpoints.csv"
    pd.concat([day.assign(endpoint="a"), day.assign(endpoint="b")]).to_csv(log, index=False)
    cfg = write_config(
        tmp_path, [{"name": "lb", "kind": "request_log", "path": str(log),
                    "columns": {"timestamp": "timestamp", "count": "value", "series_id": "endpoint"}}]
    )
    doc = cfg.model_dump(mode="json")
    doc["load"] = {"grain": "1h"}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config(tmp_path / "darkhorse.yaml")
    build(cfg, features=True, progress=_quiet)
    assert series_online_features(cfg, ["a", "b"])["feature_at"].notna().all()
    day.assign(endpoint="a").to_csv(log, index=False)
    with pytest.raises(GateFailed, match="series_id=b"):
        build(cfg, features=True, progress=_quiet)
    doc["gate"] = {"max_vanished_series": 0.5, "max_source_row_drop": 0.5, "max_row_count_change": 0.5}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    summary = build(load_config(tmp_path / "darkhorse.yaml"), features=True, progress=_quiet)
    assert summary["feast"]["series_removed"] == ["b"]
    assert summary["feast"]["online_series_rows_removed"] >= 1
    online = series_online_features(cfg, ["a", "b"])
    assert online["feature_at"].notna().tolist() == [True, False]
