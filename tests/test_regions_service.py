"""A real release with region forecasts: Online Retail (its top items, every country) built,
trained with fast models and released; `bentoml serve` splits a capacity across countries
over HTTP and the dashboard draws the split in headless chromium (screenshot kept in
`DARKHORSE_SCREENSHOT_DIR` when set)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core.config import load_config
from darkhorse.core.sql import sql_str
from tests.conftest import REPO, write_config

from .fixtures.browser import Chromium
from .serving_fixtures import bentoml_serve, release_src, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]

RAW = REPO / "data/raw/online_retail/online_retail.parquet"
TOP_ITEMS = 150


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("regions-release")
    subset = tmp / "online_retail_top.parquet"
    duckdb.sql(
        f"copy (select * from read_parquet({sql_str(str(RAW))}) where StockCode in ("
        f"  select StockCode from read_parquet({sql_str(str(RAW))}) where not starts_with(InvoiceNo, 'C')"
        f"  group by StockCode order by count(*) desc limit {TOP_ITEMS})"
        f") to {sql_str(str(subset))} (format parquet)"
    )
    src = load_config(REPO / "darkhorse.yaml").sources[0].model_dump(mode="json")
    src["path"] = str(subset)
    write_config(tmp, [src])
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["forecast"] = {"models": [{"model": "naive"}, {"model": "moving_average"}]}
    # no blend-only warm-up origins: nothing here tests the blend's warm-up
    doc["backtest"] = {"n_windows": 2, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0}
    doc["hot_sellers"] = {"classifier": {"n_estimators": 20}}
    doc["training"] = {"out_dir": str(tmp / "out"), "model_prefix": "dh_regions"}
    doc["serving"] = {"bento": "dh-regions"}
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "darkhorse.yaml")
    build(cfg, gate=False, features=True, progress=lambda *a, **k: None)
    run_cli("train", "--config", str(cfg.path))
    proc = run_cli("release", "--config", str(cfg.path))
    assert "region forecasts:" in proc.stdout and "reconciled series" in proc.stdout
    info = json.loads((tmp / "out" / "train.json").read_text())
    tag = f"dh-regions:{info['version']}"
    release_dir = release_src("dh-regions", info["version"])
    with bentoml_serve(tag, tmp / "serve.log") as url:
        yield cfg, url, release_dir, tmp


def test_the_release_carries_reconciled_region_forecasts(released):
    import pandas as pd

    cfg, _, release_dir, _ = released
    frame = pd.read_parquet(release_dir / "regions.parquet")
    assert set(frame["level"]) == {"total", "region", "item", "item_region"}
    regions = frame.loc[frame["level"] == "region", "region"].unique()
    assert "United Kingdom" in regions and len(regions) == cfg.customers.hierarchy_top_regions + 1  # + OTHER
    bottom = frame[frame["level"] == "item_region"].groupby("ds")["q0.9"].sum()
    total = frame[frame["level"] == "total"].set_index("ds")["q0.9"]
    assert (total - bottom).abs().max() < 1e-6 * max(1.0, total.max())


def test_capacity_split_across_countries_over_http(released):
    import httpx

    _, url, _, _ = released
    info = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()
    countries = info["regions"]
    item = info["region_items"][0]
    body = {"mode": "newsvendor", "capacity": 100, "weeks": 4, "level": "item_region",
            "items": [{"id": item, "region": c, "underage_cost": 3} for c in countries]}
    r = httpx.post(f"{url}/v1/allocate", json=body, timeout=30)
    assert r.status_code == 200, r.text
    res = r.json()
    assert [a["region"] for a in res["allocations"]] == countries
    assert res["used"] <= 100 * (1 + 1e-9)
    uk = next(a for a in res["allocations"] if a["region"] == "United Kingdom")
    assert uk["quantity"] == max(a["quantity"] for a in res["allocations"])
    # the top hot sellers of the hierarchy across every country, in one request
    hot = httpx.post(f"{url}/v1/hot-sellers", json={"k": 200}, timeout=30).json()["items"]
    top = [h["item"] for h in hot if h["item"] in info["region_items"]][:3]
    assert top
    pairs = {"mode": "newsvendor", "capacity": 1e9, "weeks": 4, "level": "item_region",
             "items": [{"id": i, "region": c, "underage_cost": 3} for i in top for c in countries]}
    demand = sum(a["expected_demand"] for a in httpx.post(f"{url}/v1/allocate", json=pairs, timeout=30).json()["allocations"])
    pairs["capacity"] = round(demand / 2)  # half the expected demand: the capacity binds
    r = httpx.post(f"{url}/v1/allocate", json=pairs, timeout=30)
    assert r.status_code == 200, r.text
    split = r.json()
    assert len(split["allocations"]) == len(top) * len(countries) and split["binding"]
    assert split["used"] <= pairs["capacity"] * (1 + 1e-9)
    keep = os.environ.get("DARKHORSE_SCREENSHOT_DIR")
    if keep:  # the example requests and responses of the README
        Path(keep, "regions_allocate_example.json").write_text(json.dumps(
            {"one_item": {"request": body, "response": res}, "hot_sellers": {"request": pairs, "response": split}}, indent=2))
    bad = httpx.post(f"{url}/v1/allocate", json={**body, "items": [{"id": item, "region": "Atlantis"}]}, timeout=30)
    assert bad.status_code == 400 and bad.json()["field"] == "items" and "Atlantis" in bad.json()["error"]


def test_dashboard_draws_the_region_split(released):
    import httpx

    _, url, _, tmp = released
    browser = Chromium(tmp / "profile", budget_ms=20000)
    page, _ = browser.page(f"{url}/ui/")
    regions = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()["regions"]
    assert page.column("regions", "data-item") == regions
    assert page.shape_values("rect", "data-region") == regions
    summary = page.attrs["regions-summary"]
    assert float(summary["data-used"]) <= float(summary["data-capacity"]) * (1 + 1e-9)

    browser.screenshot(f"{url}/ui/", tmp / "dashboard_regions.png", height=1500)
