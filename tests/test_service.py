"""The release and its allocation API: a real release (dbt -> gate -> Feast -> train -> bento),
served in-process through BentoML's ASGI app, then over HTTP by `bentoml serve`."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.manifest import ReleaseManifest
from darkhorse.serving.api import MAX_ITEMS

from .fixtures.browser import Chromium
from .fixtures.weekly_sales import CSV
from .serving_fixtures import BIN, asgi_app, bentoml_serve, import_service, release_config, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def trained(weekly_release):
    return weekly_release


@pytest.fixture(scope="module")
def client(trained):
    from starlette.testclient import TestClient

    module = import_service(trained.release_dir)
    with TestClient(asgi_app(module)) as c:
        yield c


def post(client, route, body):
    return client.post(route, content=json.dumps(body), headers={"Content-Type": "application/json"})


# ----------------------------------------------------------------------------- release
def test_release_pins_the_trained_models_and_carries_a_model_card(trained):
    manifest = json.loads((trained.release_dir / "release.json").read_text())
    assert manifest["models"] == trained.train_info["models"]
    assert all(not t.endswith(":latest") and t.split(":")[1] == trained.train_info["version"]
               for t in manifest["models"].values())
    assert manifest["config_hash"] == trained.train_info["config_hash"]
    # release extends the trained run's manifest and changes nothing of it
    typed = ReleaseManifest.read(trained.release_dir / "release.json")
    assert typed.model_copy(update={"release": None}) == ReleaseManifest.read(trained.out / "train.json")
    assert typed.released().bento == "dh-serve" and typed.metrics["blend"]["mase"] > 0
    card = (trained.release_dir / "MODEL_CARD.md").read_text()
    assert trained.train_info["version"] in card and "| statquant |" in card and "MASE" in card
    listed = run_cli("release", "--list", "--config", str(trained.config.path)).stdout
    assert trained.release_tag in listed
    assert run_cli("release", "--latest", "--config", str(trained.config.path)).stdout.strip() == trained.release_tag
    # one release per training run: a second build says so instead of overwriting it
    again = subprocess.run([str(BIN / "darkhorse"), "release", "--config", str(trained.config.path)],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    # bentoml's own record of the bento pins both models by full tag
    out = subprocess.run([str(BIN / "bentoml"), "get", trained.release_tag, "-o", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (service,) = json.loads(out.stdout)["services"]
    assert sorted(m["tag"] for m in service["models"]) == sorted(manifest["models"].values())


def test_release_info_route(client, trained):
    r = post(client, "/v1/release", {})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["release"]["release"] == trained.train_info["version"]
    assert info["release"]["forecaster"] == trained.train_info["models"]["forecaster"]
    assert info["items"] == pd.read_csv(CSV)["sku"].nunique()
    assert info["horizon"] == 12 and "final" in info["scores"]
    assert info["known_future"] == []  # its members read no known-future covariates: no plans
    f = info["features"]
    # the example's data ends years ago: the service must say its features are stale
    assert f["available"] is True and f["stale"] is True and f["age_days"] > 365
    assert f["weeks_ahead_of_model"] == 0  # the online store holds exactly the trained weeks
    assert "ttl" in f["note"]


# ---------------------------------------------------------------------------- forecast
def test_forecast_matches_the_trained_ensemble(client, trained):
    latest = pd.read_parquet(trained.out / "latest_forecast.parquet")
    item = str(latest["unique_id"].iloc[0])
    r = post(client, "/v1/forecast", {"items": [item], "quantiles": [0.1, 0.5, 0.9]})
    assert r.status_code == 200, r.text
    body = r.json()
    weeks = body["forecasts"][0]["weeks"]
    assert len(weeks) == 12 and body["horizon"] == 12
    mine = latest[latest["unique_id"] == item].sort_values("ds")
    np.testing.assert_allclose([w["point"] for w in weeks], mine["blend"], rtol=1e-9, atol=1e-9)
    assert [w["week"] for w in weeks] == [d.date().isoformat() for d in mine["ds"]]
    for w in weeks:
        q = w["quantiles"]
        assert 0 <= q["q10"] <= q["q50"] <= q["q90"]
    # the trained levels are served exactly as trained
    for level in ("q10", "q50", "q90"):
        np.testing.assert_allclose([w["quantiles"][level] for w in weeks], mine[f"blend-{level}"], rtol=1e-9, atol=1e-9)
    short = post(client, "/v1/forecast", {"items": [item], "horizon": 3, "quantiles": [0.025, 0.975]}).json()
    assert len(short["forecasts"][0]["weeks"]) == 3 and set(short["forecasts"][0]["weeks"][0]["quantiles"]) == {"q2.5", "q97.5"}


# -------------------------------------------------------------------------- hot sellers
def test_hot_sellers_are_the_trained_ranking(client, trained):
    ranking = pd.read_parquet(trained.out / "latest_hot_sellers.parquet")
    final = ranking[ranking["model"] == "final"].sort_values("score", ascending=False, kind="stable")
    r = post(client, "/v1/hot-sellers", {"k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["rank"] for i in body["items"]] == list(range(1, 11))
    np.testing.assert_allclose([i["score"] for i in body["items"]], final["score"].iloc[:10])
    assert body["as_of_week"] == trained.train_info["last_week"]
    top = body["items"][0]
    assert set(top["scores"]) >= {"momentum", "forecast_growth", "final"}
    assert top["latest"], "the latest online features of each hot seller are returned"
    thr = post(client, "/v1/hot-sellers", {"k": None, "threshold": 0.9, "score": "final"}).json()
    assert all(i["score"] >= 0.9 for i in thr["items"]) and len(thr["items"]) == int((final["score"] >= 0.9).sum())


# ----------------------------------------------------------------------------- allocate
@pytest.fixture(scope="module")
def items(trained):
    latest = pd.read_parquet(trained.out / "latest_forecast.parquet")
    return sorted(latest["unique_id"].astype(str).unique())[:40]


def test_newsvendor_binds_capacity_and_prices_it(client, items):
    fc = post(client, "/v1/forecast", {"items": items, "horizon": 1, "quantiles": [0.75]}).json()
    q75 = np.array([f["weeks"][0]["quantiles"]["q75"] for f in fc["forecasts"]])
    ample = post(client, "/v1/allocate", {"mode": "newsvendor", "capacity": 1e9, "weeks": 1,
                                          "items": [{"id": i, "underage_cost": 3, "overage_cost": 1} for i in items]}).json()
    got = np.array([a["quantity"] for a in ample["allocations"]])
    np.testing.assert_allclose(got, q75, rtol=1e-6, atol=1e-6)  # critical ratio 3 / (3 + 1)
    assert ample["binding"] is False and ample["shadow_price"] == 0

    cap = 0.5 * got.sum()
    tight = post(client, "/v1/allocate", {"mode": "newsvendor", "capacity": cap, "weeks": 1,
                                          "items": [{"id": i, "underage_cost": 3, "overage_cost": 1} for i in items]})
    assert tight.status_code == 200, tight.text
    t = tight.json()
    assert t["binding"] is True and t["shadow_price"] > 0
    assert t["used"] <= cap * (1 + 1e-9) and t["used"] == pytest.approx(cap, rel=1e-6)
    assert 0 < t["fill_rate"] < 1
    assert all(0 <= a["service_level"] <= 1 and a["expected_shortfall"] >= 0 for a in t["allocations"])
    assert t["release"]["release"] and t["features"]["stale"] is True


def test_every_mode_answers(client, items):
    body = {"items": [{"id": i, "min": 1} for i in items], "weeks": 4}
    fair = post(client, "/v1/allocate", {**body, "mode": "fair_share", "capacity": 100}).json()
    assert sum(a["quantity"] for a in fair["allocations"]) <= 100 + 1e-6 and 0 < fair["share"] <= 1
    sl = post(client, "/v1/allocate", {**body, "mode": "service_level", "capacity": 1e9, "service_level": 0.9}).json()
    assert all(a["target_level"] == pytest.approx(0.9) and a["safety_stock"] is not None for a in sl["allocations"])
    bal = post(client, "/v1/allocate", {"mode": "balance", "nodes": 4, "items": [{"id": i} for i in items]})
    assert bal.status_code == 200, bal.text
    b = bal.json()
    assert len(b["nodes"]) == 4 and sum(n["items"] for n in b["nodes"]) == len(items)
    assert b["lower_bound_max_load"] <= b["max_node_load"]
    caps = post(client, "/v1/allocate", {"mode": "balance", "node_capacities": [50, 50, 100],
                                         "items": [{"id": i} for i in items]}).json()
    assert all(0 <= n["service_level"] <= 1 for n in caps["nodes"])


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("route", "body", "needle"),
    [
        ("/v1/forecast", {"items": ["no-such-item"]}, "unknown item"),
        ("/v1/forecast", {"items": ["__ITEM__"], "horizon": 13}, "horizon"),
        ("/v1/forecast", {"items": []}, "items"),
        ("/v1/forecast", {"items": ["x"] * (MAX_ITEMS + 1)}, "items"),
        ("/v1/forecast", {"items": ["__ITEM__"], "quantiles": [1.5]}, "quantiles"),
        ("/v1/forecast", {"items": ["__ITEM__", "__ITEM__"]}, "duplicate"),
        ("/v1/forecast", {"items": ["__ITEM__"], "path": "/etc/passwd"}, "path"),
        # the release's members read no known-future covariates: no plan to change
        ("/v1/forecast", {"items": ["__ITEM__"], "plan": [{"item": "__ITEM__", "week": "2011-12-05",
                                                            "values": {"promo": 1}}]}, "plan: this release reads no"),
        ("/v1/hot-sellers", {"k": 5, "score": "nope"}, "score"),
        ("/v1/hot-sellers", {"k": 0}, "k"),
        ("/v1/allocate", {"capacity": -1, "items": [{"id": "__ITEM__"}]}, "capacity"),
        ("/v1/allocate", {"capacity": 1e13, "items": [{"id": "__ITEM__"}]}, "capacity"),
        ("/v1/allocate", {"items": [{"id": "__ITEM__"}]}, "capacity"),
        ("/v1/allocate", {"capacity": 5, "items": [{"id": "__ITEM__", "min": 3, "max": 2}]}, "min"),
        ("/v1/allocate", {"capacity": 1, "items": [{"id": "__ITEM__", "min": 3}]}, "capacity"),
        ("/v1/allocate", {"capacity": 5, "weeks": 13, "items": [{"id": "__ITEM__"}]}, "weeks"),
        ("/v1/allocate", {"capacity": 5, "items": [{"id": "ghost"}]}, "unknown item"),
        ("/v1/allocate", {"mode": "balance", "items": [{"id": "__ITEM__"}]}, "nodes"),
        ("/v1/allocate", {"mode": "teleport", "capacity": 1, "items": [{"id": "__ITEM__"}]}, "mode"),
        ("/v1/allocate", {"capacity": "lots", "items": [{"id": "__ITEM__"}]}, "capacity"),
        ("/v1/allocate", {"capacity": 5, "items": [{"id": "__ITEM__"}],
                          "plan": [{"item": "__ITEM__", "week": "2011-12-05", "values": {"promo": 1}}]}, "plan: this release reads no"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, items, route, body, needle):
    raw = json.dumps(body).replace("__ITEM__", items[0])
    r = client.post(route, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert needle in r.text


def test_nan_and_infinity_are_rejected(client, items):
    for raw in (f'{{"capacity": NaN, "items": [{{"id": "{items[0]}"}}]}}',
                f'{{"capacity": 5, "items": [{{"id": "{items[0]}", "unit_cost": Infinity}}]}}'):
        r = client.post("/v1/allocate", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
    r = client.post("/v1/allocate", content="{not json", headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500


# ------------------------------------------------------------ real server, browser, fuzz
@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with bentoml_serve(trained.release_tag, log) as url:
        yield url


def test_bentoml_serve_answers_over_http(served, trained, items):
    import httpx

    info = httpx.post(f"{served}/v1/release", json={}, timeout=30).json()
    assert info["release"]["release"] == trained.train_info["version"]
    r = httpx.post(f"{served}/v1/allocate", json={"capacity": 10, "items": [{"id": i} for i in items[:5]]}, timeout=30)
    assert r.status_code == 200 and sum(a["quantity"] for a in r.json()["allocations"]) <= 10 + 1e-6
    docs = httpx.get(f"{served}/docs.json", timeout=30).json()
    assert {"/v1/forecast", "/v1/hot-sellers", "/v1/allocate"} <= set(docs["paths"])


def test_dashboard_in_headless_chromium(served, trained, tmp_path):
    import httpx

    browser = Chromium(tmp_path / "profile")
    url = f"{served}/ui/"
    page, text = browser.page(url)
    top = httpx.post(f"{served}/v1/hot-sellers", json={"k": 15}, timeout=30).json()["items"]
    assert page.column("hot-sellers", "data-item") == [i["item"] for i in top]
    assert set(page.column("hot-sellers", "data-planned-rank")) == {None}  # no what-if plan: no planned rank
    assert page.attrs["forecast-chart"]["data-item"] == top[0]["item"]
    assert {"band", "median", "point"} <= set(page.shape_values("path", "class"))
    assert page.column("allocation", "data-item") == [i["item"] for i in top]
    summary = page.attrs["allocation-summary"]
    assert float(summary["data-used"]) <= float(summary["data-capacity"]) * (1 + 1e-9)
    assert re.search(r"release \S+ · trained through", text)

    shot = browser.screenshot(url, tmp_path / "dashboard.png")
    assert shot.stat().st_size > 10_000


def test_schemathesis_finds_no_server_error(served, tmp_path):
    proc = subprocess.run(
        [str(BIN / "st"), "run", f"{served}/docs.json", "--checks", "not_a_server_error",
         "--max-examples", "25", "--generation-deterministic", "--phases", "examples,coverage,fuzzing",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert re.search(r"\b[1-9]\d* passed", proc.stdout), proc.stdout[-3000:]  # it did generate cases


def test_serving_benchmark_runs_against_the_server(served, tmp_path):
    from benchmarks.bench_serve import main

    assert main(["--url", served, "--seconds", "0.5", "--warmup", "0.1", "--concurrency", "1", "2",
                 "--items", "200", "--out-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "serve.json").read_text())
    rows = {(r["scenario"], r["concurrency"]): r for r in result["results"]}
    assert set(rows) == {(s, c) for s in ("reference", "forecast_1", "hot_sellers_20", "allocate_200", "balance_200")
                         for c in (1, 2)}
    assert all(r["requests"] > 0 and r["errors"] == 0 and r["p99_ms"] >= r["p50_ms"] > 0 for r in rows.values())
    assert rows[("reference", 1)]["p50_vs_reference"] == 1.0
    assert "| allocate_200 | 1 |" in (tmp_path / "serve.md").read_text()


def test_an_older_release_can_still_be_served(trained, weekly_sales_built, tmp_path):
    import httpx

    old = trained.release_tag
    # a newer run of the same config, written to outputs of its own (the shared release's stay as they are)
    newer = release_config(weekly_sales_built, tmp_path)
    run_cli("train", "--config", str(newer.path))
    run_cli("release", "--config", str(newer.path))
    newest = run_cli("release", "--latest", "--config", str(trained.config.path)).stdout.strip()
    assert newest != old and newest.startswith("dh-serve:")
    with bentoml_serve(old, tmp_path / "old.log") as url:
        info = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()
    assert info["release"]["release"] == old.split(":")[1]
    assert info["release"]["forecaster"] == trained.train_info["models"]["forecaster"]  # the old pins
