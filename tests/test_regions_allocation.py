"""Allocation across regions: the engine's `/v1/allocate` with `level: region` and
`item_region` on a release's reconciled hierarchy (written and read by darkhorse.serving.regions),
the request's validation, and the hierarchy's coherence seen through the API."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from darkhorse.serving import api
from darkhorse.serving.allocation import grid_levels
from darkhorse.serving.engine import Engine, NoFreshness, RequestError
from darkhorse.serving.regions import RegionForecasts
from training import hierarchy

REGIONS = ["UK", "FR", "DE", "NL", "ES"]


def _panel(weeks: int = 30, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for i, item in enumerate(["a", "b", "c"]):
        for r, region in enumerate(REGIONS):
            y = rng.poisson((30 - 8 * i) * (1.0 - 0.18 * r), size=weeks)
            rows += [(item, region, start + pd.Timedelta(weeks=t), float(y[t])) for t in range(weeks)]
    return pd.DataFrame(rows, columns=["item_id", "region", "week_start", "units"])


@pytest.fixture(scope="module")
def regions(tmp_path_factory) -> RegionForecasts:
    levels = grid_levels(50)
    frame = hierarchy.forecast_frame(_panel(), top_items=3, top_regions=4, horizon=4, quantiles=levels,
                                     method="mint_shrink")
    path = tmp_path_factory.mktemp("regions") / "regions.parquet"
    frame.to_parquet(path, index=False)
    return RegionForecasts.read(path)


def _engine(regions: RegionForecasts | None) -> Engine:
    levels = grid_levels(50)
    n, h = 3, 4
    grid = np.broadcast_to(np.linspace(1, 40, len(levels)), (n, h, len(levels))).copy()
    release = api.Release(release="r", forecaster="f:1", hot_seller_model="h:1", trained_through=date(2024, 7, 22))
    return Engine(ids=np.array(["a", "b", "c"]), weeks=np.arange("2024-07-29", "2024-08-26", 7, dtype="datetime64[D]"),
                  point=grid[:, :, 25], grid=grid, levels=levels, scores=pd.DataFrame(index=["a", "b", "c"]),
                  as_of_week=date(2024, 7, 22), release=release, freshness=NoFreshness("test"), regions=regions)


def test_the_release_file_reads_back_as_coherent_arrays(regions):
    assert regions.regions == ["UK", "FR", "DE", "NL", hierarchy.OTHER]
    assert regions.items == ["a", "b", "c"]
    assert regions.grid.shape == (1 + 5 + 3 + 15, 4, 50)
    bottom = regions.keys["level"].to_numpy() == "item_region"
    total = regions.keys["level"].to_numpy() == "total"
    np.testing.assert_allclose(regions.grid[total][0], regions.grid[bottom].sum(axis=0))


def test_a_planned_item_moves_its_pairs_and_every_level_above_them(regions):
    """Item a released 10, 0, 5, 5 units and is planned at 20, 6, 5, 5: its pairs double in week
    1, take the 6 new units in week 2 in the proportions of their mean demand, and stay after;
    b's and c's pairs stay; every series is still the sum of its pairs, quantile by quantile."""
    new = regions.planned({"a": np.array([10.0, 0.0, 5.0, 5.0])}, {"a": np.array([20.0, 6.0, 5.0, 5.0])})
    keys = regions.keys
    bottom = (keys["level"] == "item_region").to_numpy()
    mine = bottom & (keys["item_id"] == "a").to_numpy()
    share = regions.mean[mine].sum(axis=1) / regions.mean[mine].sum()
    np.testing.assert_allclose(new.grid[mine, 0], 2 * regions.grid[mine, 0], rtol=1e-12)
    np.testing.assert_allclose(new.grid[mine, 1], regions.grid[mine, 1] + 6 * share[:, None], rtol=1e-12)
    np.testing.assert_allclose(new.mean[mine, 1], regions.mean[mine, 1] + 6 * share, rtol=1e-12)
    np.testing.assert_array_equal(new.grid[mine, 2:], regions.grid[mine, 2:])
    np.testing.assert_array_equal(new.grid[bottom & ~mine], regions.grid[bottom & ~mine])
    for got in (regions, new):
        _, _, adds = got.summing
        np.testing.assert_allclose(got.grid, np.einsum("sb,bhk->shk", adds.astype(float), got.grid[bottom]),
                                   rtol=1e-9, atol=1e-9)
    # the total gained what a's pairs gained, every week
    total = (keys["level"] == "total").to_numpy()
    np.testing.assert_allclose(new.mean[total][0] - regions.mean[total][0],
                               (new.mean[mine] - regions.mean[mine]).sum(axis=0), rtol=1e-9, atol=1e-9)
    # the period quantiles follow
    np.testing.assert_allclose(new.period[mine, 1], new.grid[mine, 0] + new.grid[mine, 1], rtol=1e-12)


def test_a_regional_plan_lands_the_items_change_in_its_regions(regions):
    """The same plan as above, its change landing in named regions: in week 1 in UK alone, in
    week 2 (released at zero) in FR and DE by their mean demand that week; in week 3 a cut to zero
    in NL takes NL's pair to zero and moves the item by no more than NL had."""
    released, planned = np.array([10.0, 0.0, 5.0, 5.0]), np.array([20.0, 6.0, 0.0, 5.0])
    everywhere = regions.planned({"a": released}, {"a": planned})
    new = regions.planned({"a": released}, {"a": planned}, {"a": {0: {"UK"}, 1: {"FR", "DE"}, 2: {"NL"}}})
    keys = regions.keys
    level, item, region = keys["level"].to_numpy(), keys["item_id"].astype(str).to_numpy(), keys["region"].astype(str).to_numpy()
    pair = {r: np.flatnonzero((level == "item_region") & (item == "a") & (region == r))[0] for r in ("UK", "FR", "DE", "NL")}
    row_a = np.flatnonzero((level == "item") & (item == "a"))[0]
    gain = new.mean - regions.mean
    # weeks 1 and 2: the item moves as the plan without regions moves it, all of it in the named regions
    np.testing.assert_allclose(gain[row_a, :2], (everywhere.mean - regions.mean)[row_a, :2], rtol=1e-9)
    assert gain[pair["UK"], 0] == pytest.approx(gain[row_a, 0], rel=1e-9) and gain[row_a, 0] > 0
    assert all(gain[pair[r], 0] == 0 for r in ("FR", "DE", "NL"))
    fr, de = regions.mean[pair["FR"], 1], regions.mean[pair["DE"], 1]
    assert gain[pair["FR"], 1] == pytest.approx(6 * fr / (fr + de), rel=1e-9)
    assert gain[pair["DE"], 1] == pytest.approx(6 * de / (fr + de), rel=1e-9)
    assert gain[pair["UK"], 1] == gain[pair["NL"], 1] == 0
    # week 3: NL's pair, mean and every quantile, to zero; the item loses what NL had, less than the cut
    assert new.mean[pair["NL"], 2] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(new.grid[pair["NL"], 2], 0.0, atol=1e-12)
    assert gain[row_a, 2] == pytest.approx(-regions.mean[pair["NL"], 2], rel=1e-9)
    assert gain[row_a, 2] > (everywhere.mean - regions.mean)[row_a, 2]
    # week 4 unplanned; every series is still the sum of its pairs
    np.testing.assert_array_equal(new.grid[:, 3], regions.grid[:, 3])
    bottom = level == "item_region"
    _, _, adds = new.summing
    np.testing.assert_allclose(new.grid, np.einsum("sb,bhk->shk", adds.astype(float), new.grid[bottom]),
                               rtol=1e-9, atol=1e-9)


def test_a_plan_moves_the_planned_items_category_too(tmp_path):
    panel = _panel().assign(category=lambda d: d["item_id"].map({"a": "x", "b": "x", "c": "y"}))
    path = tmp_path / "regions.parquet"
    hierarchy.forecast_frame(panel, top_items=3, top_regions=4, horizon=4, quantiles=grid_levels(20),
                             method="bottom_up").to_parquet(path, index=False)
    got = RegionForecasts.read(path)
    new = got.planned({"c": np.full(4, 10.0)}, {"c": np.full(4, 15.0)})
    level, category = got.keys["level"].to_numpy(), got.keys["category"].to_numpy()
    c_pairs = (level == "item_region") & (got.keys["item_id"] == "c").to_numpy()
    gain = (new.mean[c_pairs] - got.mean[c_pairs]).sum(axis=0)
    np.testing.assert_allclose(gain, 0.5 * got.mean[c_pairs].sum(axis=0), rtol=1e-12)
    for cat, moved in (("y", gain), ("x", 0.0)):
        row = (level == "category") & (category == cat)
        np.testing.assert_allclose(new.mean[row][0] - got.mean[row][0], moved, rtol=1e-9, atol=1e-9)


def test_regions_split_a_capacity_and_add_up(regions):
    engine = _engine(regions)
    req = api.AllocateRequest(mode="fair_share", capacity=150, weeks=2, level="region",
                              items=[{"id": r} for r in regions.regions])
    res = engine.allocate(req)
    assert [a.item for a in res.allocations] == regions.regions
    assert [a.region for a in res.allocations] == regions.regions
    assert res.used == pytest.approx(150) and res.binding
    # fair share: every region gets the same fraction of its expected demand
    fractions = [a.quantity / a.expected_demand for a in res.allocations]
    assert max(fractions) - min(fractions) < 1e-6
    # a region's expected demand is the sum of its item x region pairs' (the quantiles add up)
    pairs = api.AllocateRequest(mode="fair_share", capacity=1e6, weeks=2, level="item_region",
                                items=[{"id": i, "region": r} for i in regions.items for r in regions.regions])
    got = engine.allocate(pairs)
    by_region = pd.Series({a.region: 0.0 for a in got.allocations})
    for a in got.allocations:
        by_region[a.region] += a.expected_demand
    for a in res.allocations:
        assert a.expected_demand == pytest.approx(by_region[a.region], rel=1e-9)


@pytest.mark.parametrize("mode", ["newsvendor", "service_level"])
def test_item_region_pairs_use_the_same_modes(regions, mode):
    engine = _engine(regions)
    items = [{"id": "a", "region": r, "underage_cost": 3.0} for r in ("UK", "FR", "DE")]
    res = engine.allocate(api.AllocateRequest(mode=mode, capacity=25, level="item_region", items=items))
    assert [(a.item, a.region) for a in res.allocations] == [("a", "UK"), ("a", "FR"), ("a", "DE")]
    assert res.used <= 25 * (1 + 1e-9)
    # the region that sells most gets most
    q = [a.quantity for a in res.allocations]
    assert q[0] >= q[1] >= q[2] and q[0] > q[2]


def test_unknown_regions_and_releases_without_regions_are_400s(regions):
    with pytest.raises(RequestError) as e:
        _engine(regions).allocate(api.AllocateRequest(capacity=5, level="region", items=[{"id": "Mars"}]))
    assert e.value.field == "items" and "Mars" in e.value.message and "UK" in e.value.message
    with pytest.raises(RequestError) as e:
        _engine(regions).allocate(api.AllocateRequest(capacity=5, level="item_region", items=[{"id": "zz", "region": "UK"}]))
    assert "zz@UK" in e.value.message
    with pytest.raises(RequestError) as e:
        _engine(None).allocate(api.AllocateRequest(capacity=5, level="region", items=[{"id": "UK"}]))
    assert e.value.field == "level"
    # items still allocate as before
    res = _engine(None).allocate(api.AllocateRequest(capacity=5, items=[{"id": "a"}, {"id": "b"}]))
    assert [a.region for a in res.allocations] == [None, None]


def test_request_validation_of_levels():
    with pytest.raises(ValidationError, match="needs a region"):
        api.AllocateRequest(capacity=5, level="item_region", items=[{"id": "a"}])
    with pytest.raises(ValidationError, match="only for level item_region"):
        api.AllocateRequest(capacity=5, items=[{"id": "a", "region": "UK"}])
    with pytest.raises(ValidationError, match="duplicate"):
        api.AllocateRequest(capacity=5, level="item_region", items=[{"id": "a", "region": "UK"}] * 2)
    with pytest.raises(ValidationError, match="balance"):
        api.AllocateRequest(mode="balance", nodes=2, level="region", items=[{"id": "UK"}])
    ok = api.AllocateRequest(capacity=5, level="item_region", items=[{"id": "a", "region": "UK"}, {"id": "a", "region": "FR"}])
    assert len(ok.items) == 2
    # a plan row's region: read by region allocations, refused where the item's whole demand moves
    row = {"item": "a", "week": "2024-07-29", "values": {"promo": 1}, "region": "UK"}
    assert api.AllocateRequest(capacity=5, level="region", items=[{"id": "UK"}], plan=[row]).plan[0].region == "UK"
    for request in (lambda: api.AllocateRequest(capacity=5, items=[{"id": "a"}], plan=[row]),
                    lambda: api.ForecastRequest(items=["a"], plan=[{**row, "region": None}, row]),
                    lambda: api.HotSellersRequest(plan=[row])):
        with pytest.raises(ValidationError, match=r"plan\[\d\]\.region: only /v1/allocate at level region"):
            request()


def test_health_lists_the_hierarchy(regions):
    h = _engine(regions).health()
    assert h.regions == regions.regions and h.region_items == ["a", "b", "c"]
    assert _engine(None).health().regions == []


def test_the_release_writer_fits_through_the_trained_week_or_writes_nothing(tmp_path):
    from darkhorse.serving import regions as release_regions
    from tests.conftest import REPO, write_config

    src = {"name": "weekly_sales", "kind": "sales", "path": str(REPO / "examples/weekly_sales/weekly_sales.csv"),
           "granularity": "weekly", "columns": {"item_id": "sku", "date": "week_ending", "quantity": "units_sold"}}
    cfg = write_config(tmp_path / "p", [src])
    cfg.marts_dir.mkdir(parents=True)
    out = tmp_path / "regions.parquet"
    panel = _panel()
    panel.iloc[:0].to_parquet(cfg.marts_dir / "item_region_weeks.parquet")  # a source without regions
    assert release_regions.write(cfg, last_week="2024-06-24", horizon=4, levels=[0.1, 0.5, 0.9], path=out) == 0
    assert not out.exists()
    panel.to_parquet(cfg.marts_dir / "item_region_weeks.parquet")
    n = release_regions.write(cfg, last_week="2024-06-24", horizon=4, levels=[0.1, 0.5, 0.9], path=out)
    got = RegionForecasts.read(out)
    assert n == len(got.keys) == 1 + 5 + 3 + 15  # the default top 8 regions hold all 5: no OTHER
    # fitted through the trained week: the first forecast week is the one after it
    assert str(got.weeks[0]) == "2024-07-01"
