"""The customer-demand member: its forecast follows the customers who buy each item, reads no
customer line after its origin, and falls back to the recent mean without customer lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.backtest import build_model
from training.models import create
from training.models.customer_demand import CustomerDemand

START = pd.Timestamp("2024-01-01")
N_WEEKS = 30
TINY = CustomerDemand.test_params()


def _marts(
    folder, *, n_customers: int = 60, newcomers: int = 40, seed: int = 0, newcomer_region: str = "UK",
) -> pd.DataFrame:
    """Customer marts where item a has three times the steady buyers of item b, `newcomers`
    more customers (in `newcomer_region`; the others in the UK) start buying b in week 21, and
    item c is bought by nobody with a customer id; returns the weekly panel of all three."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers + newcomers):
        item = "a" if c % 4 and c < n_customers else "b"
        for t in range(0 if c < n_customers else 21, N_WEEKS):
            if rng.random() < 0.5:
                continue
            ts = START + pd.Timedelta(weeks=t, days=int(rng.integers(0, 5)), hours=10)
            rows.append({"customer_id": f"c{c}", "region": "UK" if c < n_customers else newcomer_region, "order_key": f"o{c}-{t}", "item_id": item,
                         "event_at": ts.tz_localize("UTC"), "week_start": START + pd.Timedelta(weeks=t),
                         "quantity": 2.0, "unit_price": 1.0, "revenue": 2.0})
    lines = pd.DataFrame(rows).sort_values(["customer_id", "event_at"], kind="stable")
    lines["order_index"] = lines.groupby("customer_id").cumcount() + 1
    lines["line_index"] = lines["order_index"]
    lines["available_at"] = (lines["week_start"] + pd.Timedelta(weeks=1)).dt.tz_localize("UTC")
    weeks = lines.groupby(["customer_id", "week_start", "available_at"]).agg(orders=("order_key", "nunique")).reset_index()
    weeks["frequency"] = weeks.groupby("customer_id")["orders"].cumsum()
    weeks = weeks.assign(recency_days=3.0, monetary=2.0, lifetime_value=2.0 * weeks["frequency"], product_diversity=1,
                         tenure_weeks=weeks.groupby("customer_id").cumcount(), recency_score=2, frequency_score=2,
                         monetary_score=2, segment="regular")
    prices = lines[["item_id", "week_start"]].drop_duplicates().assign(reference_price=1.0)
    lines.to_parquet(folder / "customer_purchases.parquet", index=False)
    weeks.to_parquet(folder / "customer_weeks.parquet", index=False)
    prices.to_parquet(folder / "line_prices.parquet", index=False)
    units = lines.groupby(["item_id", "week_start"])["quantity"].sum()
    ds = pd.date_range(START, periods=N_WEEKS, freq="7D")
    panel = pd.DataFrame([(i, d) for i in ("a", "b") for d in ds], columns=["unique_id", "ds"])
    panel["y"] = [float(units.get((i, d), 0.0)) for i, d in zip(panel["unique_id"], panel["ds"], strict=True)]
    other = pd.DataFrame({"unique_id": "c", "ds": ds, "y": np.tile([3.0, 5.0], N_WEEKS // 2)})
    return pd.concat([panel, other], ignore_index=True)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("customer_marts")
    return folder, _marts(folder)


@pytest.mark.slow
def test_the_forecast_follows_the_customers_and_reads_nothing_after_the_origin(shop, tmp_path):
    folder, panel = shop
    cutoff = START + pd.Timedelta(weeks=24)
    train = panel[panel["ds"] <= cutoff].reset_index(drop=True)
    level = train.groupby("unique_id")["y"].apply(lambda v: v.tail(8).mean())
    model = create("customer_demand", marts_dir=str(folder), **TINY).fit(train, horizon=4)
    fc = model.predict(h=4).groupby("unique_id")["customer_demand"].mean()
    info = model.fit_info_
    lines = pd.read_parquet(folder / "customer_purchases.parquet")
    assert info["customers"] == lines.loc[lines["week_start"] <= cutoff, "customer_id"].nunique() > 90
    assert info["fallback_items"] == 1 and info["vocabulary"] == 2
    # a's customers are steady: about its level; b gained customers since the middle of the
    # level's weeks (week 21): above its level; c (no customer lines): its level
    assert 0.7 < fc["a"] / level["a"] < 1.4
    assert fc["b"] / level["b"] > 1.2
    assert fc["c"] == pytest.approx(level["c"])
    # global_scale: one factor maps the customers' units onto the panel's recent units
    scaled = create("customer_demand", marts_dir=str(folder), calibration="global_scale", **TINY).fit(train, horizon=4)
    sfc = scaled.predict(h=4).groupby("unique_id")["customer_demand"].mean()
    assert sfc["a"] + sfc["b"] == pytest.approx(level["a"] + level["b"], rel=1e-6)
    # lines after the origin (a flood of new buyers of b) change nothing
    for name in ("customer_weeks", "line_prices"):
        pd.read_parquet(folder / f"{name}.parquet").to_parquet(tmp_path / f"{name}.parquet", index=False)
    late = lines["week_start"] > cutoff
    assert late.any()
    flooded = lines.copy()
    flooded.loc[late, "item_id"] = "b"
    flooded.to_parquet(tmp_path / "customer_purchases.parquet", index=False)
    again = create("customer_demand", marts_dir=str(tmp_path), **TINY).fit(train, horizon=4)
    pd.testing.assert_frame_equal(model.predict(h=4), again.predict(h=4))


def test_without_customer_lines_every_item_gets_its_recent_mean(tmp_path):
    ds = pd.date_range(START, periods=12, freq="7D")
    panel = pd.DataFrame({"unique_id": np.repeat(["x", "y"], 12), "ds": np.tile(ds, 2),
                          "y": np.r_[np.arange(12.0), np.full(12, 2.0)]})
    model = create("customer_demand", marts_dir=str(tmp_path), level_weeks=4).fit(panel, horizon=3)
    fc = model.predict(h=3).groupby("unique_id")["customer_demand"].mean()
    assert fc.to_dict() == {"x": pytest.approx(9.5), "y": pytest.approx(2.0)}
    assert model.fit_info_["fallback_items"] == 2 and model.fit_info_["customers"] == 0


def test_the_backtest_gives_the_member_the_configs_marts(tmp_path):
    from darkhorse.core.config import ModelSpec

    built = build_model(ModelSpec(model="customer_demand"), marts_dir=tmp_path)
    assert built.settings.marts_dir == str(tmp_path)
    own = build_model(ModelSpec(model="customer_demand", params={"marts_dir": "elsewhere"}), marts_dir=tmp_path)
    assert own.settings.marts_dir == "elsewhere"
    assert "marts_dir" not in build_model(ModelSpec(model="naive"), marts_dir=tmp_path).params()


# ------------------------------------------------------------- per item x region (the hierarchy's member)
@pytest.fixture(scope="module")
def two_regions(tmp_path_factory):
    """The shop's marts with the newcomers (buyers of b from week 21) in France."""
    from training.customers import data as cdata

    folder = tmp_path_factory.mktemp("customer_regions")
    _marts(folder, newcomer_region="France")
    return cdata.read_marts(folder)


def _settings():
    from training.customers.demand import DemandSettings

    return DemandSettings(max_train_orders=TINY["max_train_orders"], sequence=TINY["sequence"])


@pytest.mark.slow
def test_the_regions_sum_to_the_per_item_demand_and_follow_the_buyers(two_regions):
    from training.customers import demand

    lines, weeks = two_regions
    origin = START + pd.Timedelta(weeks=25)
    then = origin - pd.Timedelta(weeks=4)
    d, info = demand.expected_demand(lines, weeks, origin=origin, dates=[origin, then], settings=_settings())
    # France's customers all buy b and arrived in week 21: none was active before it
    assert set(d.loc[d["date"] == then, "region"]) == {"UK"}
    assert set(d.loc[d["date"] == origin, "region"]) == {"UK", "France"} and set(d["item_id"]) == {"a", "b"}
    assert len(d) == 2 * (1 + 2) and (d["units"] >= 0).all()
    items = demand.per_item(d)
    by_hand = d.groupby(["item_id", "date"])["units"].sum().unstack("date")
    pd.testing.assert_frame_equal(items.sort_index(), by_hand.reindex(columns=items.columns).sort_index(),
                                  check_names=False)
    at = d[d["date"] == origin].set_index(["region", "item_id"])["units"]
    assert at[("France", "b")] > at[("France", "a")] and at[("France", "b")] > 0
    assert info["customers"] == lines.loc[pd.to_datetime(lines["week_start"]) < origin, "customer_id"].nunique()
    with pytest.raises(ValueError, match="after the origin"):
        demand.expected_demand(lines, weeks, origin=then, dates=[origin], settings=_settings())


@pytest.mark.slow
def test_lines_after_the_origin_change_nothing(two_regions):
    from training.customers import demand

    lines, weeks = two_regions
    origin = START + pd.Timedelta(weeks=24)
    late = pd.to_datetime(lines["available_at"], utc=True) > origin.tz_localize("UTC")
    assert late.any() and (~late).any()
    poisoned = lines.copy()
    poisoned.loc[late, ["item_id", "region"]] = ["a", "Germany"]
    poisoned.loc[late, "quantity"] = 1e6
    wlate = pd.to_datetime(weeks["available_at"], utc=True) > origin.tz_localize("UTC")
    pweeks = weeks.copy()
    pweeks.loc[wlate, "frequency"] = 999
    first, _ = demand.expected_demand(lines, weeks, origin=origin, dates=[origin], settings=_settings())
    again, _ = demand.expected_demand(poisoned, pweeks, origin=origin, dates=[origin], settings=_settings())
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.slow
def test_the_hierarchy_member_sums_other_regions_into_other(two_regions):
    from training import hierarchy
    from training.customers import demand

    lines, weeks = two_regions
    origin = START + pd.Timedelta(weeks=25)
    keys = pd.DataFrame({"item_id": ["a", "b", "a", "b", "zz"], "region": ["UK", "UK", "OTHER", "OTHER", "UK"]})
    hist = np.tile(np.arange(1.0, 26.0), (5, 1))  # level of the last 8 weeks: 21.5
    info: list = []
    member = demand.hierarchy_member(lines, weeks, settings=_settings(), info=info)
    got = member(keys, hist, origin)
    d, _ = demand.expected_demand(lines, weeks, origin=origin, dates=[origin, origin - pd.Timedelta(weeks=4)],
                                  settings=_settings())
    d["region"] = d["region"].where(d["region"] == "UK", hierarchy.OTHER)
    wide = d.groupby(["item_id", "region", "date"])["units"].sum().unstack("date").fillna(0.0)
    now, then = wide.iloc[:, 1].to_numpy(), wide.iloc[:, 0].to_numpy()
    m = np.median(then) or 1e-9
    want = 21.5 * np.clip((now + m) / (then + m), 0.25, 4.0)
    np.testing.assert_allclose(got[:4], pd.Series(want, index=wide.index).reindex(
        pd.MultiIndex.from_frame(keys.iloc[:4])).to_numpy())
    assert got[4] == 21.5  # not in the model's vocabulary: its level
    assert info[0]["bottom_known"] == 4 and info[0]["origin"] == str(origin.date())
