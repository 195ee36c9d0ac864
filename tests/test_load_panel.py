"""The interval load panel (fct_series_intervals) built by dbt from request_log sources."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from darkhorse.app.build import build
from tests.conftest import REPO, write_config

pytestmark = pytest.mark.integration

RAW = REPO / "data" / "raw" / "request_load"


def _weekly_sales(tmp) -> str:
    fridays = pd.date_range("2023-01-06", periods=8, freq="7D")
    rows = [
        {"item": f"i{k}", "date": d.strftime("%Y-%m-%d"), "qty": float(k + i)}
        for k in range(3) for i, d in enumerate(fridays)
    ]
    path = tmp / "sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _build(tmp, request_log: dict, load: dict):
    sources = [
        {"name": "shop", "kind": "sales", "path": _weekly_sales(tmp), "granularity": "weekly",
         "columns": {"item_id": "item", "date": "date", "quantity": "qty"}},
        {"name": "lb", "kind": "request_log", **request_log},
    ]
    cfg = write_config(tmp, sources)
    doc = cfg.model_dump(mode="json")
    doc["load"] = load
    import yaml

    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    from darkhorse.core.config import load_config

    cfg = load_config(tmp / "darkhorse.yaml")
    return cfg, build(cfg, features=False, progress=lambda *_: None)


def _panel(cfg) -> pd.DataFrame:
    return duckdb.sql(
        f"select * from read_parquet('{cfg.marts_dir}/series_intervals.parquet') order by series_id, interval_start"
    ).df()


@pytest.fixture(scope="module")
def elb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("elb")
    return _build(
        tmp,
        {"path": str(RAW / "elb_request_count_8c0756.csv"), "columns": {"timestamp": "timestamp", "count": "value"}},
        {"grain": "15min", "lookback_intervals": 4},
    )


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("azure")
    # one row per request with its tokens; timestamps like 2023-11-16 18:15:46.6805900
    return _build(
        tmp,
        {"path": str(RAW / "AzureLLMInferenceTrace_conv.csv"),
         "columns": {"timestamp": "TIMESTAMP", "work": ["ContextTokens", "GeneratedTokens"]}},
        {"grain": "5min"},
    )


def test_elb_panel_is_dense_complete_and_sums_the_raw_counts(elb):
    cfg, summary = elb
    assert summary["gate"]["success"]
    panel = _panel(cfg)
    raw = pd.read_csv(RAW / "elb_request_count_8c0756.csv", parse_dates=["timestamp"])
    raw["interval_start"] = raw["timestamp"].dt.floor("15min")
    first, last = raw["timestamp"].min(), raw["timestamp"].max()
    # partial first interval (data starts 00:04) and the interval holding the last point are out
    lo = first.floor("15min") + pd.Timedelta("15min") if first != first.floor("15min") else first
    hi = last.floor("15min") - pd.Timedelta("15min")
    expected = raw[(raw.interval_start >= lo) & (raw.interval_start <= hi)].groupby("interval_start")["value"].sum()
    spine = pd.date_range(expected.index.min(), hi, freq="15min")
    expected = expected.reindex(spine, fill_value=0.0)
    got = panel.set_index(panel["interval_start"].dt.tz_convert(None))["requests"]
    assert list(got.index) == list(spine)  # dense: every interval a row, gaps are zeros
    assert got.to_numpy() == pytest.approx(expected.to_numpy())
    assert panel["series_id"].unique().tolist() == ["requests"]
    assert (panel["available_at"] - panel["interval_start"] == pd.Timedelta("15min")).all()
    # rolling windows, lags and calendar, recomputed from the panel's own requests
    r = panel["requests"]
    assert panel["requests_lookback_sum"].to_numpy() == pytest.approx(r.rolling(4, min_periods=1).sum().to_numpy())
    assert panel["requests_day_sum"].to_numpy() == pytest.approx(r.rolling(96, min_periods=1).sum().to_numpy())
    assert panel["requests_day_ago"].iloc[96:].to_numpy() == pytest.approx(r.iloc[:-96].to_numpy())
    assert panel["requests_day_ago"].iloc[:96].isna().all()
    assert panel["requests_week_ago"].iloc[672:].to_numpy() == pytest.approx(r.iloc[:-672].to_numpy())
    ts = panel["interval_start"].dt.tz_convert("UTC")
    assert (panel["minute_of_day"] == ts.dt.hour * 60 + ts.dt.minute).all()
    assert (panel["day_of_week"] == ts.dt.dayofweek + 1).all()
    assert (panel["intervals_since_first"] == range(len(panel))).all()


def test_request_log_rows_carry_work_units_and_whole_intervals_only(azure):
    cfg, summary = azure
    assert summary["gate"]["success"]
    panel = _panel(cfg)
    raw = pd.read_csv(RAW / "AzureLLMInferenceTrace_conv.csv")
    raw["ts"] = pd.to_datetime(raw["TIMESTAMP"])
    raw["interval_start"] = raw["ts"].dt.floor("5min")
    lo = raw["ts"].min().floor("5min") + pd.Timedelta("5min")
    hi = raw["ts"].max().floor("5min") - pd.Timedelta("5min")
    kept = raw[(raw.interval_start >= lo) & (raw.interval_start <= hi)]
    expected = kept.groupby("interval_start").agg(
        requests=("ts", "size"), work=("ContextTokens", "sum"), gen=("GeneratedTokens", "sum")
    )
    assert len(panel) == len(expected) > 5
    assert panel["requests"].to_numpy() == pytest.approx(expected["requests"].to_numpy())
    assert panel["work_units"].to_numpy() == pytest.approx((expected["work"] + expected["gen"]).to_numpy())
    assert (panel["log_rows"] == panel["requests"]).all()


def test_item_only_config_exports_an_empty_interval_panel_with_its_columns(tmp_path):
    sources = [{"name": "shop", "kind": "sales", "path": _weekly_sales(tmp_path), "granularity": "weekly",
                "columns": {"item_id": "item", "date": "date", "quantity": "qty"}}]
    cfg = write_config(tmp_path, sources)
    build(cfg, features=False, progress=lambda *_: None)
    panel = _panel(cfg)
    assert panel.empty
    assert {"series_id", "interval_start", "available_at", "requests", "minute_of_day"} <= set(panel.columns)


def test_example_config_reads_the_shipped_trace_and_its_licence():
    from darkhorse.core.config import load_config

    cfg = load_config(REPO / "examples" / "request_load" / "darkhorse.yaml")
    (log,) = [s for s in cfg.sources if s.kind == "request_log"]
    assert all(Path(p).is_file() for p in cfg.source_paths(log))
    assert cfg.load.grain_minutes == 15 and cfg.load.intervals_per_day == 96
    assert cfg.dbt_vars()["load"] == {"grain_minutes": 15, "lookback_intervals": 4, "intervals_per_day": 96}
    readme = (RAW / "README.md").read_text()
    assert "MIT" in readme and "CC BY 4.0" in readme
