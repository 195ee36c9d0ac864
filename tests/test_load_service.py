"""The load routes of a real release service (BentoML's ASGI app in process)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from .serving_fixtures import asgi_app, import_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(weekly_release):
    return weekly_release


def _load_config(trained, tmp):
    """The release's config plus a request log, its interval panel published beside it."""
    doc = yaml.safe_load(trained.config.path.read_text())
    doc["sources"].append({"name": "lb", "kind": "request_log", "path": "log.csv"})
    doc["load"] = {"grain": "30min", "plan": {"throughput_per_replica": 50, "lead_intervals": 1, "cooldown_intervals": 0}}
    doc["paths"] = {**doc["paths"], "marts": str(tmp / "marts"), "data_dir": str(tmp / "data")}
    (tmp / "marts").mkdir(parents=True)
    ds = pd.date_range("2024-03-04", periods=48 * 8, freq="30min", tz="UTC")
    load = 100 + 80 * np.sin(2 * np.pi * np.arange(len(ds)) / 48) ** 2
    pd.DataFrame({"series_id": "checkout", "interval_start": ds, "requests": load}).to_parquet(
        tmp / "marts" / "series_intervals.parquet"
    )
    path = tmp / "darkhorse.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, ds[-1]


def _client(trained, monkeypatch, config_path, state):
    from starlette.testclient import TestClient

    monkeypatch.setenv("DARKHORSE_CONFIG", str(config_path))
    monkeypatch.setenv("DARKHORSE_LOAD_STATE", str(state))
    module = import_service(trained.release_dir)
    return TestClient(asgi_app(module))


def post(client, route, body):
    return client.post(route, content=json.dumps(body), headers={"Content-Type": "application/json"})


def test_observe_forecast_and_plan_over_the_service_and_after_a_restart(trained, tmp_path, monkeypatch):
    config_path, last = _load_config(trained, tmp_path)
    state = tmp_path / "state"
    with _client(trained, monkeypatch, config_path, state) as client:
        nxt = (last + pd.Timedelta("30min")).isoformat()
        r = post(client, "/v1/load/observe", {"series_id": "checkout", "timestamps": [nxt], "values": [400.0]})
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 1 and r.json()["late"] == []
        late = post(client, "/v1/load/observe", {"series_id": "checkout", "timestamps": [nxt], "values": [1.0]})
        assert late.json()["late"] == [pd.Timestamp(nxt).isoformat()]
        r = post(client, "/v1/load/forecast", {"series_id": "checkout", "horizon": 4, "quantiles": [0.5, 0.9]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["grain"] == "30min" and len(body["intervals"]) == 4
        assert set(body["intervals"][0]["quantiles"]) == {"q0.5", "q0.9"}
        r = post(client, "/v1/load/plan", {"series_id": "checkout", "horizon": 4})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert [i["actionable"] for i in plan["intervals"]] == [False, True, True, True]
        assert all(i["capacity"] == i["replicas"] * 50 for i in plan["intervals"])
        bad = post(client, "/v1/load/observe", {"series_id": "checkout", "timestamps": ["2030-01-01T00:10:00Z"], "values": [1.0]})
        assert bad.status_code == 400 and bad.json()["field"] == "timestamps"
        unknown = post(client, "/v1/load/forecast", {"series_id": "nope"})
        assert unknown.status_code == 400 and unknown.json()["field"] == "series_id"
    # a restart: a new service instance on the same state folder (BentoML's metrics allow one
    # ASGI app per process, so the class is instantiated directly) has the observation
    restarted = import_service(trained.release_dir).DarkHorse()
    assert restarted.load.stream.last_interval("checkout") == pd.Timestamp(nxt)
    again = restarted.load_forecast(series_id="checkout", horizon=1, quantiles=[0.5])
    assert again.intervals[0].start == pd.Timestamp(nxt) + pd.Timedelta("30min")


def test_a_release_without_a_request_log_says_so(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("DARKHORSE_CONFIG", str(trained.config.path))
    svc = import_service(trained.release_dir).DarkHorse()
    assert svc.load is None
    r = svc.load_forecast(series_id="checkout", horizon=12, quantiles=[0.5])
    assert r.status_code == 400 and "no load series" in json.loads(r.body)["error"]
    info = svc.release()
    assert info.parts == ["weekly"] and info.load is None and info.release.release == trained.train_info["version"]
