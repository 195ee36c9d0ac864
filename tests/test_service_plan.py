"""A release whose members read a known-future covariate, served over HTTP by `bentoml serve`:
a sales file with a promotion flag and its plan for the weeks after the data (dbt -> gate ->
Feast -> train -> bento), asked what-if questions through the API and the dashboard."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pandas as pd
import pytest

from .conftest import write_config
from .fixtures.browser import Chromium
from .serving_fixtures import bentoml_serve, release_src, run_cli

pytestmark = pytest.mark.slow

H = 4
N_ITEMS, N_WEEKS = 12, 60
REGIONS = ["north", "south", "east"]


def _sales(root) -> tuple[str, str]:
    """Weekly units that triple in promotion weeks (about one week in five), sold in three regions,
    and a plan that promotes every item in the first week after the data and no week after it."""
    rng, where = np.random.default_rng(3), np.random.default_rng(7)
    weeks = pd.date_range("2022-01-03", periods=N_WEEKS, freq="7D")
    rows = []
    for i in range(N_ITEMS):
        base = rng.uniform(10, 60)
        promo = rng.random(N_WEEKS) < 0.2
        units = rng.poisson(base * (1 + 2 * promo))
        # each week's units sold across three regions, in the item's own proportions
        split = where.multinomial(units, where.dirichlet([4.0, 2.0, 1.0]))
        for r, region in enumerate(REGIONS):
            rows.append(pd.DataFrame({"sku": f"p{i:02d}", "week": weeks.strftime("%Y-%m-%d"), "units": split[:, r],
                                      "region": region, "on_promo": np.where(promo, "yes", "no")}))
    pd.concat(rows).to_csv(root / "sales.csv", index=False)
    after = [(weeks[-1] + pd.Timedelta(weeks=k)).strftime("%Y-%m-%d") for k in range(1, H + 1)]
    plan = pd.DataFrame([{"sku": f"p{i:02d}", "week": w, "on_promo": "yes" if k == 0 else "no"}
                         for i in range(N_ITEMS) for k, w in enumerate(after)])
    plan.to_csv(root / "plan.csv", index=False)
    return "sales.csv", "plan.csv"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Build, train (XGBoost reading the promotion, and the naive member) and release."""
    root = tmp_path_factory.mktemp("service_plan")
    sales, plan = _sales(root)
    source = {"name": "shop", "kind": "sales", "path": sales, "granularity": "weekly",
              "columns": {"item_id": "sku", "date": "week", "quantity": "units", "region": "region"},
              "known_future": [{"column": "on_promo", "agg": "max"}], "plan": plan}
    cfg = write_config(root, [source], panel={"horizon_weeks": H})
    import yaml

    doc = yaml.safe_load(cfg.path.read_text())
    doc.update(
        forecast={"models": [{"model": "xgboost", "params": {"n_estimators": 60, "max_depth": 4}}, {"model": "naive"}]},
        backtest={"n_windows": 2, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0},
        hot_sellers={"classifier": {"n_estimators": 20}},
        training={"out_dir": str(root / "out"), "model_prefix": "dh_plan"},
        serving={"bento": "dh-plan"},
    )
    cfg.path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run_cli("build", "--config", str(cfg.path))
    run_cli("train", "--config", str(cfg.path))
    proc = run_cli("release", "--config", str(cfg.path))
    version = re.search(r"dh-plan:(\S+)", proc.stdout).group(1)
    assert release_src("dh-plan", version).is_dir()
    with bentoml_serve(f"dh-plan:{version}", root / "serve.log") as url:
        yield url, root


def _regions(url: str) -> list[str]:
    return httpx.post(f"{url}/v1/release", json={}, timeout=30).json()["regions"]


def _forecast(url: str, items: list[str], plan: list[dict] | None = None) -> dict[str, list[float]]:
    r = httpx.post(f"{url}/v1/forecast", json={"items": items, "quantiles": [0.5], "plan": plan or []}, timeout=60)
    assert r.status_code == 200, r.text
    return {f["item"]: [w["point"] for w in f["weeks"]] for f in r.json()["forecasts"]}


def _weeks(url: str, item: str) -> list[str]:
    r = httpx.post(f"{url}/v1/forecast", json={"items": [item], "quantiles": [0.5]}, timeout=60).json()
    return [w["week"] for w in r["forecasts"][0]["weeks"]]


def test_the_served_release_takes_a_plan_over_http(release):
    url, _ = release
    info = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()
    assert info["known_future"] == ["on_promo"]
    weeks = _weeks(url, "p00")
    before = _forecast(url, ["p00", "p01"])
    # the release's plan promotes week 1 and nothing after: no promotion in week 1, one in week 3
    plan = [{"item": "p00", "week": weeks[0], "values": {"on_promo": 0}},
            {"item": "p00", "week": weeks[2], "values": {"on_promo": 1}}]
    after = _forecast(url, ["p00", "p01"], plan)
    assert after["p00"][0] < 0.8 * before["p00"][0] and after["p00"][2] > 1.25 * before["p00"][2]
    assert after["p00"][1] == pytest.approx(before["p00"][1], rel=1e-9)
    assert after["p01"] == pytest.approx(before["p01"], rel=1e-9)
    # an allocation of the two items' first two weeks follows p00's lost promotion
    ask = {"mode": "newsvendor", "capacity": 1e6, "weeks": 2,
           "items": [{"id": "p00", "underage_cost": 3.0}, {"id": "p01", "underage_cost": 3.0}]}
    got = [httpx.post(f"{url}/v1/allocate", json={**ask, "plan": p}, timeout=60).json() for p in ([], plan)]
    (b0, b1), (a0, a1) = ([a["quantity"] for a in g["allocations"]] for g in got)
    assert got[1]["planned"] == 2 and a0 < b0 and a1 == pytest.approx(b1, rel=1e-9)
    # a covariate the release does not read: a 400 naming the field
    bad = httpx.post(f"{url}/v1/forecast", json={"items": ["p00"], "plan": [
        {"item": "p00", "week": weeks[0], "values": {"price": 1.0}}]}, timeout=30)
    assert bad.status_code == 400 and "plan[0].values" in bad.text and "on_promo" in bad.text


def test_regions_take_a_plan_over_http(release):
    """The release's reconciled item x region hierarchy moves under a plan as the item's forecast
    does: each of p00's regions by p00's own ratio, the regions by their pair's change."""
    url, _ = release
    info = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()
    assert set(REGIONS) <= set(info["regions"]) and "p00" in info["region_items"]
    weeks = _weeks(url, "p00")
    row = [{"item": "p00", "week": weeks[2], "values": {"on_promo": 1}}]
    ratio = _forecast(url, ["p00"], row)["p00"][2] / _forecast(url, ["p00"])["p00"][2]
    assert ratio > 1.25  # a promotion in the third week
    ask = {"mode": "fair_share", "capacity": 1e7, "weeks": 3}
    pairs = {**ask, "level": "item_region", "items": [{"id": i, "region": r} for i in ("p00", "p01") for r in REGIONS]}
    regions = {**ask, "level": "region", "items": [{"id": r} for r in REGIONS]}

    def demand(body, plan, weeks_asked):
        r = httpx.post(f"{url}/v1/allocate", json={**body, "weeks": weeks_asked, "plan": plan}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["planned"] == len(plan)
        return {(a["item"], a["region"]): a["expected_demand"] for a in r.json()["allocations"]}

    def week3(plan):  # the third week alone: the three weeks' demand less the first two's
        out = {}
        for body in (pairs, regions):
            three, two = demand(body, plan, 3), demand(body, plan, 2)
            out.update({k: three[k] - two[k] for k in three})
        return out

    b, a = week3([]), week3(row)
    for r in REGIONS:
        assert a[("p00", r)] == pytest.approx(ratio * b[("p00", r)], rel=1e-6)
        assert a[("p01", r)] == pytest.approx(b[("p01", r)], rel=1e-9)
        assert a[(r, r)] - b[(r, r)] == pytest.approx(a[("p00", r)] - b[("p00", r)], rel=1e-6)


def test_the_dashboard_opens_a_shared_what_if_link(release, tmp_path):
    url, _ = release
    weeks = _weeks(url, "p03")
    released = sum(_forecast(url, ["p03"])["p03"])
    planned = sum(_forecast(url, ["p03"], [{"item": "p03", "week": weeks[2], "values": {"on_promo": 1}}])["p03"])
    browser = Chromium(tmp_path / "profile")
    link = f"{url}/ui/?item=p03&plan=on_promo:{weeks[2]}:1"
    page, text = browser.page(link)
    assert page.attrs["forecast-chart"]["data-item"] == "p03"
    assert {"band", "median", "point", "whatif"} <= set(page.shape_values("path", "class"))
    summary = page.attrs["whatif-summary"]
    assert summary["data-rows"] == "1"
    assert float(summary["data-released-total"]) == pytest.approx(released, rel=1e-6)
    assert float(summary["data-planned-total"]) == pytest.approx(planned, rel=1e-6) and planned > released
    assert f"on_promo = 1 in the week of {weeks[2]}" in text
    # the allocation across the hot sellers takes the same plan: the API's answer to the
    # dashboard's request with it, not without it
    alloc = page.attrs["allocation-summary"]
    assert alloc["data-planned"] == "1" and "under the what-if plan of p03" in text
    hot = httpx.post(f"{url}/v1/hot-sellers", json={"k": 15}, timeout=30).json()["items"]
    assert "p03" in [h["item"] for h in hot]
    ask = {"mode": "newsvendor", "capacity": float(alloc["data-capacity"]), "weeks": 4,
           "items": [{"id": h["item"], "underage_cost": 3, "overage_cost": 1} for h in hot]}
    row = [{"item": "p03", "week": weeks[2], "values": {"on_promo": 1}}]
    got = {name: {a["item"]: a["quantity"] for a in httpx.post(f"{url}/v1/allocate", json={**ask, "plan": plan},
                                                                timeout=60).json()["allocations"]}
           for name, plan in (("released", []), ("planned", row))}
    # the summary says where p03 would rank among the 15 hot sellers under the plan: the API's answer
    under = [h["item"] for h in httpx.post(f"{url}/v1/hot-sellers", json={"k": 15, "plan": row},
                                           timeout=60).json()["items"]]
    rank = {name: ids.index("p03") + 1 if "p03" in ids else 0 for name, ids in
            (("released", [h["item"] for h in hot]), ("planned", under))}
    assert summary["data-released-rank"] == str(rank["released"]) and summary["data-planned-rank"] == str(rank["planned"])
    assert "hot-seller rank" in text
    # the hot-seller table gives every row's rank under the plan beside its released one
    assert {r["data-item"]: r["data-planned-rank"] for r in page.rows["hot-sellers"]} == {
        h["item"]: str(under.index(h["item"]) + 1 if h["item"] in under else 0) for h in hot}
    shown = {r["data-item"]: float(r["data-quantity"]) for r in page.rows["allocation"]}
    assert shown == pytest.approx(got["planned"], rel=1e-9)
    assert got["planned"]["p03"] > got["released"]["p03"]  # a promotion draws capacity to p03
    assert [r["data-item"] for r in page.rows["allocation"] if r.get("class") == "planned"] == ["p03"]
    # the region split takes the plan too: the API's answer to the dashboard's request with it
    split = page.attrs["regions-summary"]
    assert split["data-planned"] == "1" and "under the what-if plan of p03" in text
    assert split["data-of"] == "p03"  # the split opens on the planned item
    body = {"mode": "newsvendor", "capacity": float(split["data-capacity"]), "weeks": 4, "level": "item_region",
            "items": [{"id": "p03", "region": r, "underage_cost": 3, "overage_cost": 1} for r in _regions(url)]}
    answer = {name: {a["region"]: a["quantity"] for a in httpx.post(
        f"{url}/v1/allocate", json={**body, "plan": plan}, timeout=60).json()["allocations"]}
        for name, plan in (("released", []), ("planned", row))}
    shown = {r["data-item"]: float(r["data-quantity"]) for r in page.rows["regions"]}
    assert shown == pytest.approx(answer["planned"], rel=1e-9) and shown != pytest.approx(answer["released"], rel=1e-6)
    # the what-if form offers the release's covariate and the item's forecast weeks
    assert "whatif-form" in page.attrs and "hidden" not in page.attrs["whatif-form"]
    assert browser.screenshot(link, tmp_path / "dashboard-whatif.png").stat().st_size > 10_000


def _flat(items: list[dict], leave: str | None = None) -> dict[tuple[str, str], float]:
    """Every (item, score name) of a hot-seller answer's items, but the score `leave`."""
    return {(h["item"], k): v for h in items for k, v in h["scores"].items() if k != leave}


def _hot(url: str, plan: list[dict] | None = None, score: str = "final") -> dict:
    r = httpx.post(f"{url}/v1/hot-sellers", json={"k": N_ITEMS, "plan": plan or [], "score": score}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_hot_sellers_under_a_plan_score_the_planned_item_from_its_planned_forecast(release):
    url, _ = release
    released = _hot(url)
    scores = {h["item"]: h["scores"] for h in released["items"]}
    assert released["planned"] == 0 and len(scores) == N_ITEMS and "classifier" in scores["p00"]
    # the release's own plan, stated again: every score as released
    weeks = _weeks(url, "p00")
    same = _hot(url, [{"item": "p00", "week": weeks[0], "values": {"on_promo": 1}}])
    assert same["planned"] == 1
    assert _flat(same["items"]) == pytest.approx(_flat(released["items"]), rel=1e-12)
    # the item ranked last by forecast growth promoted in every week the release did not plan
    low = min(scores, key=lambda i: scores[i]["forecast_growth"])
    plan = [{"item": low, "week": w, "values": {"on_promo": 1}} for w in weeks[1:]]
    moved = _hot(url, plan)
    got = {h["item"]: h["scores"] for h in moved["items"]}
    assert moved["planned"] == len(plan) and set(got) == set(scores)
    # its growth is read from its forecast under the plan: the same ratio as the forecast's mean
    before, after = sum(_forecast(url, [low])[low]), sum(_forecast(url, [low], plan)[low])
    assert after > 1.3 * before
    assert got[low]["forecast_growth"] / scores[low]["forecast_growth"] == pytest.approx(after / before, rel=1e-9)
    # the other items keep their own scores; the planned one climbs the final ranking
    others = [[h for h in answer["items"] if h["item"] != low] for answer in (moved, released)]
    assert _flat(others[0], "final") == pytest.approx(_flat(others[1], "final"), rel=1e-12)
    # ranked by forecast growth, it climbs from the bottom (the final ranking moves as the
    # release's combination weighs the scores: tests/test_hot_seller_whatif.py)
    by_growth = httpx.post(f"{url}/v1/hot-sellers", json={"k": N_ITEMS, "score": "forecast_growth", "plan": plan},
                           timeout=60).json()["items"]
    assert [h["item"] for h in by_growth].index(low) < N_ITEMS - 1
    # a release kept no plan for an unknown item: a 400 naming the field
    bad = httpx.post(f"{url}/v1/hot-sellers", json={"k": 5, "plan": [
        {"item": "nope", "week": weeks[0], "values": {"on_promo": 1}}]}, timeout=30)
    assert bad.status_code == 400 and "plan[0].item" in bad.text


def test_the_dashboard_lists_the_items_a_plan_brings_into_its_top(release, tmp_path):
    url, _ = release
    # ranked by forecast growth, which reads the plan (this release's final ranking reads
    # seasonal growth, which does not)
    score = "forecast_growth"
    released = [h["item"] for h in _hot(url, score=score)["items"]]
    # the first plan (an item promoted in every week the release did not plan, or in none) and
    # the shortest table whose top it changes: an item it lifts in, or the one after an item it
    # drops out
    def changed():
        for item in released:
            weeks = _weeks(url, item)
            for value in (1, 0):
                plan = [{"item": item, "week": w, "values": {"on_promo": value}} for w in weeks[1:]]
                under = [h["item"] for h in _hot(url, plan, score=score)["items"]]
                top = next((k for k in range(1, N_ITEMS) if set(under[:k]) != set(released[:k])), None)
                if top is not None:
                    return item, weeks, value, under, top
        return None

    found = changed()
    assert found is not None, "no plan moves the ranking: the test says nothing"
    item, weeks, value, under, top = found
    link = f"{url}/ui/?item={item}&top={top}&score={score}&plan=" + ";".join(f"on_promo:{w}:{value}" for w in weeks[1:])
    page, text = Chromium(tmp_path / "profile").page(link)
    assert page.attrs["hot-sellers"]["data-score"] == score and "Hot sellers by forecast_growth" in text
    rows = page.rows["hot-sellers"]
    listed = [r for r in rows if r.get("class") != "entered"]
    entered = [r for r in rows if r.get("class") == "entered"]
    # the released top as released, each with its rank under the plan; after them the items the
    # plan brings in from below, in their planned order, each with its planned rank
    assert [r["data-item"] for r in listed] == released[:top]
    assert {r["data-item"]: r["data-planned-rank"] for r in listed} == {
        i: str(under.index(i) + 1 if i in under[:top] else 0) for i in released[:top]}
    assert [r["data-item"] for r in entered] == [i for i in under[:top] if i not in released[:top]] != []
    assert all(r["data-planned-rank"] == str(under.index(r["data-item"]) + 1) for r in entered)
    rank = {name: ids[:top].index(item) + 1 if item in ids[:top] else 0 for name, ids in (("was", released), ("now", under))}
    summary = page.attrs["whatif-summary"]
    assert (summary["data-released-rank"], summary["data-planned-rank"]) == (str(rank["was"]), str(rank["now"]))
    # without the plan nothing enters
    page, _ = Chromium(tmp_path / "profile2").page(f"{url}/ui/?item={item}&top={top}&score={score}")
    assert [r["data-item"] for r in page.rows["hot-sellers"]] == released[:top]
    assert all("data-planned-rank" not in r for r in page.rows["hot-sellers"])


def test_the_dashboard_lands_a_regional_promotion_in_its_region(release, tmp_path):
    url, _ = release
    weeks = _weeks(url, "p03")
    row = {"item": "p03", "week": weeks[2], "values": {"on_promo": 1}}
    link = f"{url}/ui/?item=p03&plan=on_promo:{weeks[2]}:1:south"
    page, text = Chromium(tmp_path / "profile").page(link)
    # the chart reads the row without its region (a forecast refuses one)
    summary = page.attrs["whatif-summary"]
    assert float(summary["data-planned-total"]) == pytest.approx(sum(_forecast(url, ["p03"], [row])["p03"]), rel=1e-6)
    assert f"on_promo = 1 in the week of {weeks[2]} in south" in text
    assert "hidden" not in page.attrs["whatif-where"]  # p03 has region forecasts: the form offers its regions
    # the region split lands the change in south: the API's answer with the row's region
    split = page.attrs["regions-summary"]
    assert split["data-of"] == "p03" and split["data-planned"] == "1"
    body = {"mode": "newsvendor", "capacity": float(split["data-capacity"]), "weeks": 4, "level": "item_region",
            "items": [{"id": "p03", "region": r, "underage_cost": 3, "overage_cost": 1} for r in _regions(url)]}
    answer = {name: {a["region"]: a["quantity"] for a in httpx.post(
        f"{url}/v1/allocate", json={**body, "plan": plan}, timeout=60).json()["allocations"]}
        for name, plan in (("south", [{**row, "region": "south"}]), ("everywhere", [row]))}
    shown = {r["data-item"]: float(r["data-quantity"]) for r in page.rows["regions"]}
    assert shown == pytest.approx(answer["south"], rel=1e-9) and shown != pytest.approx(answer["everywhere"], rel=1e-6)
