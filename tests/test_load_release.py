"""A request_log-only deployment end to end: the ELB example's config with its request log
alone, trained, released and served in process: the release carries the load part only, the
load routes answer and the weekly routes say there is no weekly forecaster.

The interval panel is built through dbt, the gate and Feast from the example's full config
(its request log and the weekly sales file that rides along), so that the same build also
serves the release of both parts below; the load-only config reads the same published marts
(a request_log-only config also builds alone: tests/test_load_only_build.py). The dashboard
of each release is checked in headless Chromium over a real `bentoml serve`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core.config import load_config
from darkhorse.core.manifest import LOAD_RELEASE_FILE, LOAD_TRAIN_FILE, RELEASE_FILE, LoadManifest

from .conftest import REPO
from .fixtures.browser import Chromium, Dashboard
from .serving_fixtures import asgi_app, bentoml_serve, import_service, release_src, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = REPO / "examples" / "request_load" / "darkhorse.yaml"


def _configs(tmp: Path) -> tuple[Path, Path]:
    """The example's config (for the build) and its request_log-only copy (train, release,
    serve), paths made absolute, data and outputs in `tmp`."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    for s in doc["sources"]:
        s["path"] = str((EXAMPLE.parent / s["path"]).resolve())
    doc["paths"] = {"data_dir": str(tmp / "data"), "duckdb": str(tmp / "data" / "darkhorse.duckdb"),
                    "marts": str(tmp / "data" / "marts"), "dbt_project": str(REPO / "dbt_project")}
    doc["feast"] = {"repo": str(REPO / "feature_repo")}
    doc["training"] = {"out_dir": str(tmp / "out"), "model_prefix": "dh_loadonly"}
    doc["serving"] = {"bento": "dh-loadonly"}
    (tmp / "build.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    sources = [s for s in doc["sources"] if s["kind"] == "request_log"]
    assert sources and len(sources) < len(doc["sources"])  # the example also carries a weekly source
    doc["sources"] = sources
    for key in ("forecast", "backtest"):
        doc.pop(key, None)
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp / "build.yaml", tmp / "darkhorse.yaml"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_only_release")
    build_path, path = _configs(tmp)
    build(load_config(build_path), features=True, progress=lambda *a, **k: None)
    cfg = load_config(path)
    run_cli("train", "--config", str(cfg.path))
    proc = run_cli("release", "--config", str(cfg.path))
    run = LoadManifest.read(tmp / "out" / LOAD_TRAIN_FILE)
    assert f"dh-loadonly:{run.version}" in proc.stdout
    release_dir = release_src("dh-loadonly", run.version)
    return cfg, run, release_dir, tmp


def test_the_newest_release_is_the_config_s_own(released) -> None:
    """Configs share the bento name `darkhorse` unless they set another, so `release --latest`,
    `--list` (and `make serve`, the HTTP benchmarks) read only the releases labelled with the
    config's project: another project's config finds none, and says so."""
    from darkhorse.app.release import ReleaseError, latest_release, list_releases

    cfg, run, _, _ = released
    assert latest_release(cfg) == f"dh-loadonly:{run.version}"
    other = cfg.model_copy(update={"project": "another_project"})
    assert list_releases(other) == []
    with pytest.raises(ReleaseError, match="no release of 'dh-loadonly' for project 'another_project'"):
        latest_release(other)


def post(client, route, body):
    return client.post(route, content=json.dumps(body), headers={"Content-Type": "application/json"})


def test_the_release_carries_the_load_part_only(released):
    cfg, run, release_dir, _ = released
    assert not (cfg.out_dir / "train.json").exists()
    assert not (release_dir / RELEASE_FILE).exists()
    pinned = LoadManifest.read(release_dir / LOAD_RELEASE_FILE)
    assert pinned.release is not None and pinned.release.parts == ["load"]
    assert pinned.tag == run.tag == f"dh_loadonly_load_forecaster:{run.version}"
    assert pinned.grain == "15min" and pinned.horizon == 96
    assert list((release_dir / "load_seed").glob("*.npz"))
    assert "no weekly forecaster" in (release_dir / "MODEL_CARD.md").read_text()


def test_the_service_forecasts_load_and_refuses_weekly_routes(released, monkeypatch):
    from starlette.testclient import TestClient

    _, run, release_dir, tmp = released
    monkeypatch.delenv("DARKHORSE_CONFIG", raising=False)  # the release's own config path
    monkeypatch.setenv("DARKHORSE_LOAD_STATE", str(tmp / "state"))
    module = import_service(release_dir)
    with TestClient(asgi_app(module)) as client:
        info = post(client, "/v1/release", {})
        assert info.status_code == 200, info.text
        body = info.json()
        assert body["parts"] == ["load"] and body["release"] is None and body["items"] == 0
        assert body["load"]["load_forecaster"] == run.tag and body["load"]["grain"] == "15min"
        series = body["load"]["series"]
        assert len(series) == run.series == 1

        r = post(client, "/v1/load/forecast", {"series_id": series[0], "horizon": 8, "quantiles": [0.1, 0.5, 0.9]})
        assert r.status_code == 200, r.text
        intervals = r.json()["intervals"]
        assert len(intervals) == 8
        first = pd.Timestamp(intervals[0]["start"])
        assert first == pd.Timestamp(run.last_interval, tz="UTC") + pd.Timedelta("15min")
        for iv in intervals:
            q = iv["quantiles"]
            assert 0 <= q["q0.1"] <= q["q0.5"] <= q["q0.9"]

        nxt = first.isoformat()
        r = post(client, "/v1/load/observe", {"series_id": series[0], "timestamps": [nxt], "values": [250.0]})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        r = post(client, "/v1/load/plan", {"series_id": series[0], "horizon": 4})
        assert r.status_code == 200, r.text
        assert all(i["capacity"] == i["replicas"] * 100 for i in r.json()["intervals"])

        for route, req in [("/v1/forecast", {"items": ["x"], "horizon": 1}),
                           ("/v1/hot-sellers", {"k": 3}),
                           ("/v1/allocate", {"items": [{"id": "x"}], "capacity": 10})]:
            r = post(client, route, req)
            assert r.status_code == 404, (route, r.status_code, r.text)
            assert "no weekly forecaster" in r.json()["error"] and r.json()["field"] == "release"


def test_the_load_serving_benchmark_times_cached_and_fresh_forecasts(released, tmp_path):
    """`bench_load_serve` against a real `bentoml serve`: every scenario answers, and a fresh
    forecast follows an observe each time (the buffer's end moved by every interval the run
    appended, so those forecasts could not come from the stream's cache)."""
    import httpx

    from benchmarks.bench_load_serve import main
    from tests.fixtures.servers import serve

    cfg, run, _, _ = released
    env = {"DARKHORSE_LOAD_STATE": str(tmp_path / "state"), "DARKHORSE_CONFIG": str(cfg.path)}
    with serve(f"dh-loadonly:{run.version}", log_path=tmp_path / "serve.log", env=env) as url:
        def first_interval() -> pd.Timestamp:
            r = httpx.post(f"{url}/v1/load/forecast", json={"series_id": "requests", "horizon": 1}, timeout=30)
            return pd.Timestamp(r.json()["intervals"][0]["start"])

        before = first_interval()
        assert main(["--url", url, "--seconds", "0.5", "--warmup", "0.1", "--out-dir", str(tmp_path)]) == 0
        after = first_interval()
    rows = {r["scenario"]: r for r in json.loads((tmp_path / "load_serve.json").read_text())["results"]}
    assert list(rows) == ["reference", "load_forecast", "load_forecast_fresh", "load_observe"]
    assert all(r["requests"] > 0 and r["errors"] == 0 and r["p99_ms"] >= r["p50_ms"] > 0 for r in rows.values())
    assert rows["reference"]["appended"] == rows["load_forecast"]["appended"] == 0
    fresh = rows["load_forecast_fresh"]
    assert fresh["appended"] > fresh["requests"]  # one observe before every forecast, warm-up ones too
    assert after - before == (fresh["appended"] + rows["load_observe"]["appended"]) * pd.Timedelta("15min")
    assert "| load_forecast_fresh |" in (tmp_path / "load_serve.md").read_text()


def test_feast_load_training_v1_at_each_close_returns_the_panel_training_reads(released):
    """`load_training_v1` point-in-time at each interval's close joins that interval's row:
    what `training.load.train.load_panel` reads from the published Parquet, value for value
    (so reading training through Feast would change no number; see the README's load section)."""
    from darkhorse.core import features
    from training.load.frame import step
    from training.load.train import load_panel

    cfg, *_ = released
    panel = load_panel(cfg)
    closes = pd.to_datetime(panel["ds"]).dt.tz_localize("UTC") + step(cfg.load.grain)
    entities = pd.DataFrame({"series_id": panel["unique_id"], "event_timestamp": closes})
    got = features.series_historical_features(cfg, entities)
    assert len(got) == len(panel) > 1000
    assert got[cfg.load.target].notna().all()
    assert (got[cfg.load.target].to_numpy() == panel["y"].to_numpy()).all()
    # a second before the close, the interval is not visible yet: Feast joins the one before it
    early = features.series_historical_features(cfg, entities.assign(event_timestamp=closes - pd.Timedelta("1s")))
    assert (early[cfg.load.target].to_numpy()[1:] == panel["y"].to_numpy()[:-1]).all()


@pytest.fixture(scope="module")
def both(released):
    """The example's full config trained and released: (weekly train.json, load manifest, bento src)."""
    _, _, _, tmp = released
    path = tmp / "build.yaml"
    run_cli("train", "--config", str(path))
    run_cli("release", "--config", str(path))
    weekly = json.loads((tmp / "out" / "train.json").read_text())
    load = LoadManifest.read(tmp / "out" / LOAD_TRAIN_FILE)
    release_dir = release_src("dh-loadonly", weekly["version"])
    return weekly, load, release_dir


def test_the_example_as_shipped_releases_both_parts(released, both, monkeypatch):
    """The example's full config (request log and weekly sales): one run, one bento carrying
    the weekly part and the load part, pinned to the same version; both kinds of routes answer."""
    _, _, _, tmp = released
    weekly, load, release_dir = both
    assert load.version == weekly["version"]
    both = json.loads((release_dir / RELEASE_FILE).read_text())
    assert both["release"]["parts"] == ["weekly", "load"]
    assert LoadManifest.read(release_dir / LOAD_RELEASE_FILE).release.parts == ["weekly", "load"]

    monkeypatch.setenv("DARKHORSE_LOAD_STATE", str(tmp / "state_both"))
    svc = import_service(release_dir).DarkHorse()
    info = svc.release()
    assert info.parts == ["weekly", "load"] and info.release.release == weekly["version"]
    assert info.load.load_forecaster == load.tag and info.items > 0
    item = svc.engine.ids[0]
    assert len(svc.forecast(items=[str(item)], horizon=2, quantiles=[0.5]).forecasts[0].weeks) == 2
    fc = svc.load_forecast(series_id=info.load.series[0], horizon=3, quantiles=[0.5])
    assert len(fc.intervals) == 3


# ------------------------------------------------------------------ the dashboard in Chromium
def _assert_load_part(page: Dashboard, text: str, url: str, version: str, series: str) -> None:
    import httpx

    assert "hidden" not in page.attrs["load-card"]
    assert f"load release {version}" in text
    chart = page.attrs["load-chart"]
    assert chart["data-series"] == series and chart["data-intervals"] == "96"  # a day of 15 minutes
    assert {"band", "median", "capacity"} <= set(page.shape_values("path", "class"))
    plan = httpx.post(f"{url}/v1/load/plan", json={"series_id": series, "horizon": 96}, timeout=60).json()
    assert [(r["data-interval"], int(str(r["data-replicas"]))) for r in page.rows["replica-plan"]] == [
        (i["start"], i["replicas"]) for i in plan["intervals"]
    ]
    assert float(str(page.attrs["load-plan-summary"]["data-replica-hours"])) == pytest.approx(plan["replica_hours"])


def test_dashboard_of_a_load_only_release_shows_the_load_part(released, tmp_path):
    _, run, _, _ = released
    with bentoml_serve(f"dh-loadonly:{run.version}", tmp_path / "serve.log") as url:
        page, text = Chromium(tmp_path / "profile").page(f"{url}/ui/")
        assert page.body.get("data-parts") == "load"
        assert "hidden" in page.attrs["weekly-part"]  # no hot sellers, forecast or allocation to show
        _assert_load_part(page, text, url, run.version, "requests")


def test_dashboard_of_a_release_of_both_parts_shows_both(both, tmp_path):
    weekly, load, _ = both
    with bentoml_serve(f"dh-loadonly:{weekly['version']}", tmp_path / "serve.log") as url:
        page, text = Chromium(tmp_path / "profile").page(f"{url}/ui/")
        assert page.body.get("data-parts") == "weekly load"
        assert "hidden" not in page.attrs["weekly-part"]
        assert page.attrs["forecast-chart"].get("data-item")
        assert f"release {weekly['version']} · trained through" in text
        _assert_load_part(page, text, url, load.version, "requests")
