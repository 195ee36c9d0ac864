"""Customer and region marts (dbt) and their Feast views, checked against pandas computations
of the same order lines: RFM as known at each week's close, dense item x region weeks with
new-customer share, reference prices from earlier weeks only, purchase sequences, and the
point-in-time joins Feast makes over them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkhorse.app.build import build
from darkhorse.core import features
from tests.conftest import write_config

pytestmark = pytest.mark.integration

FIRST_WEEK = pd.Timestamp("2024-01-01")  # a Monday
CATEGORY = {"A": "cards", "B": "cards", "C": "gifts", "D": "gifts"}
N_WEEKS = 8


def _lines(seed: int = 7) -> pd.DataFrame:
    """Invoices of 12 customers in 3 countries over N_WEEKS whole weeks, with a few returns."""
    rng = np.random.default_rng(seed)
    rows = []
    invoice = 1000
    for c in range(12):
        country = ["United Kingdom", "France", "Germany"][c % 3]
        start = int(rng.integers(0, N_WEEKS - 2))
        for _ in range(int(rng.integers(1, 6))):
            day = int(rng.integers(start * 7, N_WEEKS * 7))
            ts = FIRST_WEEK + pd.Timedelta(days=day, hours=int(rng.integers(8, 18)))
            invoice += 1
            for item in rng.choice(["A", "B", "C", "D", "E"], size=int(rng.integers(1, 4)), replace=False):
                price = {"A": 2.0, "B": 3.5, "C": 1.25, "D": 7.0, "E": 0.85}[item] * float(rng.choice([0.8, 1.0, 1.0, 1.1]))
                rows.append((str(invoice), item, int(rng.integers(1, 12)), ts, round(price, 2), f"{17000 + c}.0", country))
    # a cancellation of customer 17000's first line
    first = next(r for r in rows if r[5] == "17000.0")
    rows.append(("C" + first[0], first[1], -1, first[3] + pd.Timedelta(hours=1), first[4], first[5], first[6]))
    # a customer whose country names no place: no coordinates, so no distances
    rows.append(("998", "B", 2, FIRST_WEEK + pd.Timedelta(days=9, hours=11), 3.5, "17098.0", "Unspecified"))
    # the data covers whole weeks: first day Monday, last day a Sunday
    rows.append(("999", "A", 1, FIRST_WEEK + pd.Timedelta(hours=1), 2.0, "17099.0", "France"))
    rows.append(("9999", "A", 1, FIRST_WEEK + pd.Timedelta(days=N_WEEKS * 7 - 1, hours=20), 2.0, "17099.0", "France"))
    df = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"])
    df["Description"] = "item " + df["StockCode"]
    df["Category"] = df["StockCode"].map(CATEGORY)  # E has none
    df["InvoiceDate"] = df["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return df


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("customers")
    lines = _lines()
    path = work / "lines.csv"
    lines.to_csv(path, index=False)
    src = {"name": "shop", "kind": "order_lines", "path": str(path), "timestamp_format": "%Y-%m-%d %H:%M:%S",
           "columns": {"category": "Category"}}
    cfg = write_config(work, [src])
    build(cfg, gate=False, features=True, progress=lambda *_: None)
    marts = {m: pd.read_parquet(cfg.marts_dir / f"{m}.parquet")
             for m in ("customer_weeks", "customer_purchases", "item_region_weeks", "line_prices", "region_distances")}
    sales = lines[~lines["InvoiceNo"].str.startswith("C")].copy()
    sales["ts"] = pd.to_datetime(sales["InvoiceDate"]).dt.tz_localize("UTC")
    sales["week"] = (sales["ts"].dt.tz_localize(None).dt.normalize()
                     - pd.to_timedelta(sales["ts"].dt.weekday, unit="D"))
    sales["customer"] = sales["CustomerID"].str.replace(".0", "", regex=False)
    sales["revenue"] = sales["Quantity"] * sales["UnitPrice"]
    return cfg, marts, sales


def test_rfm_is_what_was_known_at_each_week_close(built):
    _, marts, sales = built
    cw = marts["customer_weeks"]
    weeks = pd.date_range(FIRST_WEEK, periods=N_WEEKS, freq="7D")
    assert set(cw["customer_id"]) == set(sales["customer"])
    checked = 0
    for (cust, week), row in cw.set_index(["customer_id", "week_start"]).iterrows():
        week = pd.Timestamp(week)
        close = (week + pd.Timedelta(days=7)).tz_localize("UTC")
        past = sales[(sales["customer"] == cust) & (sales["week"] <= week)]
        assert row["frequency"] == past["InvoiceNo"].nunique()
        assert row["product_diversity"] == past["StockCode"].nunique()
        assert row["recency_days"] == pytest.approx((close - past["ts"].max()).total_seconds() / 86400)
        assert row["monetary"] == pytest.approx(past["revenue"].sum() / past["InvoiceNo"].nunique())
        assert row["tenure_weeks"] == (week - past["week"].min()).days // 7
        checked += 1
    # dense: every customer has a row for every week from its first to the last
    firsts = sales.groupby("customer")["week"].min()
    assert checked == len(cw) == sum(int((weeks >= f).sum()) for f in firsts)
    # the cancelled line lowers lifetime value only from its week on
    c0 = cw[cw["customer_id"] == "17000"].sort_values("week_start")
    assert (c0["lifetime_value"] <= c0["monetary"] * c0["frequency"] + 1e-9).all()
    assert (c0["lifetime_value"] < c0["monetary"] * c0["frequency"] - 1e-9).any()
    # scores compare customers of the same week: the most recent buyer of a week scores highest
    last = cw[cw["week_start"] == cw["week_start"].max()]
    assert last.loc[last["recency_days"].idxmin(), "recency_score"] == 4
    assert last.loc[last["recency_days"].idxmax(), "recency_score"] == 1
    assert set(cw["segment"]) <= {"new", "champion", "loyal", "at_risk", "hibernating", "regular"}
    assert (cw.loc[cw["tenure_weeks"] < 4, "segment"] == "new").all()


def test_item_region_weeks_are_dense_with_new_customer_share(built):
    _, marts, sales = built
    irw = marts["item_region_weeks"]
    last_week = pd.Timestamp(FIRST_WEEK + pd.Timedelta(weeks=N_WEEKS - 1))
    pairs = sales.groupby(["StockCode", "Country"])["week"].min()
    assert len(irw) == sum((last_week - f).days // 7 + 1 for f in pairs)
    first_buy = sales.groupby("customer")["week"].min()
    grouped = sales.groupby(["StockCode", "Country", "week"])
    for (item, country, week), g in grouped:
        row = irw[(irw["item_id"] == item) & (irw["region"] == country)
                  & (pd.to_datetime(irw["week_start"]) == week)].iloc[0]
        assert row["units"] == g["Quantity"].sum()
        assert row["customers"] == g["customer"].nunique()
        new = sum(first_buy[c] == week for c in g["customer"].unique())
        assert row["new_customers"] == new
        assert row["new_customer_share"] == pytest.approx(new / g["customer"].nunique())
    assert irw.groupby(["item_id", "region"])["units"].sum().sum() == sales["Quantity"].sum()


def test_a_declared_category_reaches_the_item_region_panel_and_the_hierarchy(built):
    from training import hierarchy

    irw = built[1]["item_region_weeks"]
    got = irw.groupby("item_id")["category"].agg(lambda s: set(s.dropna()))
    assert got.to_dict() == {i: {CATEGORY[i]} if i in CATEGORY else set() for i in "ABCDE"}
    h = hierarchy.build(irw, top_items=5, top_regions=3)
    cats = h.keys[h.keys["level"] == "category"]
    assert list(cats["unique_id"]) == ["#cards", "#gifts", "#" + hierarchy.OTHER]  # E: no category
    row = dict(zip(h.keys["unique_id"], h.values, strict=True))
    np.testing.assert_allclose(row["#cards"], row["A"] + row["B"])
    assert hierarchy.coherence_gap(h.S, h.values) == 0.0


def test_reference_price_uses_earlier_weeks_only(built):
    _, marts, sales = built
    lp = marts["line_prices"]
    assert len(lp) == len(sales)
    for row in lp.itertuples():
        week = pd.Timestamp(row.week_start)
        earlier = sales[(sales["StockCode"] == row.item_id) & (sales["week"] < week)
                        & (sales["week"] >= week - pd.Timedelta(weeks=8))]
        if earlier.empty:
            assert pd.isna(row.reference_price) and pd.isna(row.discount)
        else:
            assert row.reference_price == pytest.approx(earlier["UnitPrice"].median())
            assert row.discount == pytest.approx(1 - row.unit_price / earlier["UnitPrice"].median())


def test_purchase_sequences_follow_buying_order(built):
    _, marts, sales = built
    cp = marts["customer_purchases"].sort_values(["customer_id", "line_index"])
    assert len(cp) == len(sales)
    for _, g in cp.groupby("customer_id"):
        assert list(g["line_index"]) == list(range(1, len(g) + 1))
        assert g["event_at"].is_monotonic_increasing and g["order_index"].is_monotonic_increasing
        assert g["order_index"].iloc[-1] == g["order_key"].nunique()


def test_feast_joins_customers_and_regions_point_in_time(built):
    cfg, marts, _ = built
    store = features.feature_store(cfg)
    cw = marts["customer_weeks"]
    # an origin in the middle of a week sees the week before (closed), not the current one
    origin = pd.Timestamp(FIRST_WEEK + pd.Timedelta(weeks=5, days=3), tz="UTC")
    custs = sorted(cw.loc[pd.to_datetime(cw["week_start"]) <= FIRST_WEEK + pd.Timedelta(weeks=3), "customer_id"].unique())
    ent = pd.DataFrame({"customer_id": custs, "event_timestamp": origin})
    got = store.get_historical_features(
        entity_df=ent, features=store.get_feature_service("customers_training_v1")
    ).to_df().set_index("customer_id").loc[custs]
    want = cw[pd.to_datetime(cw["week_start"]) == FIRST_WEEK + pd.Timedelta(weeks=4)].set_index("customer_id").loc[custs]
    np.testing.assert_allclose(got["recency_days"], want["recency_days"])
    assert list(got["frequency"]) == list(want["frequency"])
    assert list(got["segment"]) == list(want["segment"])

    irw = marts["item_region_weeks"]
    pairs = irw[pd.to_datetime(irw["week_start"]) == FIRST_WEEK + pd.Timedelta(weeks=4)]
    ent = pairs[["item_id", "region"]].assign(event_timestamp=origin)
    got = store.get_historical_features(
        entity_df=ent, features=store.get_feature_service("regions_training_v1")
    ).to_df().set_index(["item_id", "region"]).sort_index()
    want = pairs.set_index(["item_id", "region"]).sort_index()
    np.testing.assert_allclose(got["units"], want["units"])
    np.testing.assert_allclose(got["units_lookback_sum"], want["units_lookback_sum"])

    # online: the latest closed week of each pair
    latest = irw.sort_values("week_start").groupby(["item_id", "region"]).tail(1)
    rows = latest[["item_id", "region"]].to_dict("records")
    online = store.get_online_features(
        features=["item_region_activity:units_lookback_sum"], entity_rows=rows
    ).to_df()
    np.testing.assert_allclose(online["units_lookback_sum"], latest["units_lookback_sum"])


def test_region_distances_are_great_circle_km_and_null_without_coordinates(built):
    from tests.test_region_distances import coordinates, haversine_km

    rd = built[1]["region_distances"]
    regions = {"United Kingdom", "France", "Germany", "Unspecified"}
    assert set(rd["region"]) == set(rd["other_region"]) == regions and len(rd) == 16
    wide = rd.pivot(index="region", columns="other_region", values="distance_km")
    located = sorted(regions - {"Unspecified"})
    km = wide.loc[located, located].to_numpy()
    np.testing.assert_array_equal(km, km.T)  # symmetric
    np.testing.assert_array_equal(np.diag(km), 0.0)  # zero on the diagonal
    coords = coordinates().set_index("region")
    uk, fr = coords.loc["United Kingdom"], coords.loc["France"]
    assert wide.loc["United Kingdom", "France"] == pytest.approx(
        haversine_km(uk["latitude"], uk["longitude"], fr["latitude"], fr["longitude"]), rel=1e-9)
    assert 700 < wide.loc["United Kingdom", "France"] < 1000 and 750 < wide.loc["United Kingdom", "Germany"] < 1050
    # a region without coordinates: null distances, its own included, never zero
    assert wide.loc["Unspecified"].isna().all() and wide["Unspecified"].isna().all()
