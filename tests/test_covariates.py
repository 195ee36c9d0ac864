"""Known-future covariates: config schema, the model protocol, the global XGBoost, no leakage.

A covariate is known at the origin for the weeks of the horizon (a price plan, a promotion
calendar, holidays): the XGBoost reads it at the target week; the other members ignore it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.core.config import ConfigError, load_config
from darkhorse.core.schema import DS, ID, SchemaError, Y
from training.models import create

from .conftest import REPO

H = 4


def _panel(n_series: int = 30, n_weeks: int = 90, seed: int = 0) -> pd.DataFrame:
    """Weekly units that triple in promotion weeks (about one week in five)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2022-01-03", periods=n_weeks + 10, freq="7D")
    rows = []
    for i in range(n_series):
        base = rng.uniform(5, 50)
        promo = (rng.random(len(weeks)) < 0.2).astype(float)
        y = rng.poisson(base * (1 + 2 * promo))
        rows.append(pd.DataFrame({ID: f"s{i:02d}", DS: weeks, Y: y.astype(float), "promo": promo}))
    return pd.concat(rows, ignore_index=True)


def _split(full: pd.DataFrame, cutoff: pd.Timestamp, h: int = H) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    train = full[full[DS] <= cutoff].reset_index(drop=True)
    future = full.loc[(full[DS] > cutoff) & (full[DS] <= cutoff + pd.Timedelta(weeks=h)), [ID, DS, "promo"]]
    actual = full.loc[(full[DS] > cutoff) & (full[DS] <= cutoff + pd.Timedelta(weeks=h)), [ID, DS, Y, "promo"]]
    return train, future.reset_index(drop=True), actual.reset_index(drop=True)


XGB = {"n_estimators": 60, "max_depth": 4, "max_train_rows": 20_000}


@pytest.fixture(scope="module")
def promo_panel():
    full = _panel()
    cutoff = full[DS].max() - pd.Timedelta(weeks=10)
    return full, cutoff


def test_xgboost_reads_the_promotion_at_the_target_week(promo_panel):
    full, cutoff = promo_panel
    train, future, actual = _split(full, cutoff)
    with_kf = create("xgboost", **XGB).fit(train, horizon=H, future=future).predict(h=H)
    without = create("xgboost", **XGB).fit(train, horizon=H).predict(h=H)
    a = actual.merge(with_kf, on=[ID, DS]).merge(without[[ID, DS, "xgboost"]], on=[ID, DS], suffixes=("", "_without"))
    err_with = (a["xgboost"] - a[Y]).abs().mean()
    err_without = (a["xgboost_without"] - a[Y]).abs().mean()
    assert err_with < 0.7 * err_without
    # promotion weeks are forecast about three times the others (the data's own effect)
    ratio = a.loc[a["promo"] == 1, "xgboost"].mean() / a.loc[a["promo"] == 0, "xgboost"].mean()
    assert 2.0 < ratio < 4.5
    assert "kf_promo" in create("xgboost", **XGB).fit(train, horizon=H, future=future).feature_names_


def test_values_after_the_target_window_change_nothing(promo_panel):
    full, cutoff = promo_panel
    train, future, _ = _split(full, cutoff)
    later = full.loc[full[DS] > cutoff + pd.Timedelta(weeks=H), [ID, DS, "promo"]].copy()
    noisy = later.assign(promo=np.random.default_rng(1).normal(0, 1e6, len(later)))
    base = create("xgboost", **XGB).fit(train, horizon=H, future=future).predict(h=H)
    for extra in (later, noisy):
        long_plan = pd.concat([future, extra], ignore_index=True)
        got = create("xgboost", **XGB).fit(train, horizon=H, future=long_plan).predict(h=H)
        pd.testing.assert_frame_equal(got, base)
        # and at predict time, with a plan that reaches past the horizon
        m = create("xgboost", **XGB).fit(train, horizon=H, future=future)
        pd.testing.assert_frame_equal(m.predict(h=H, future=long_plan), base)


def test_training_rows_only_see_covariates_up_to_the_origin(promo_panel):
    """The fit reads covariates from the history (weeks <= cutoff) and the plan (the horizon);
    a history that carries poisoned covariate values after the cutoff is refused by nothing
    because the model never gets them: the backtest's train frame stops at the cutoff, and the
    plan is cut at the horizon. Here: the same fit with every covariate of weeks after the
    cutoff + H poisoned in a frame passed as plan gives the same model."""
    full, cutoff = promo_panel
    train, future, _ = _split(full, cutoff)
    m1 = create("xgboost", **XGB).fit(train, horizon=H, future=future)
    poisoned = full.loc[full[DS] > cutoff, [ID, DS, "promo"]].copy()
    poisoned.loc[poisoned[DS] > cutoff + pd.Timedelta(weeks=H), "promo"] = 1e9
    m2 = create("xgboost", **XGB).fit(train, horizon=H, future=poisoned)
    assert [b.get_booster().save_raw() for b in m1.model_.boosters] == [b.get_booster().save_raw() for b in m2.model_.boosters]
    # the kept plan holds exactly the horizon's weeks
    steps = (m2.future_[DS] - m2.last_ds_.reindex(m2.future_[ID]).to_numpy()) // pd.Timedelta(weeks=1)
    assert sorted(steps.unique()) == list(range(1, H + 1))
    assert m2.future_["promo"].max() <= 1.0


def test_a_new_plan_at_predict_time_moves_the_forecast(promo_panel):
    full, cutoff = promo_panel
    train, future, _ = _split(full, cutoff)
    m = create("xgboost", **XGB).fit(train, horizon=H, future=future)
    none = m.predict(h=H, future=future.assign(promo=0.0))
    every = m.predict(h=H, future=future.assign(promo=1.0))
    assert (every["xgboost"].to_numpy() > none["xgboost"].to_numpy()).mean() > 0.9
    pd.testing.assert_frame_equal(m.predict(h=H, future=future), m.predict(h=H))


def test_members_without_the_capability_ignore_the_plan(promo_panel):
    full, cutoff = promo_panel
    train, future, _ = _split(full, cutoff)
    for name in ("naive", "seasonal_naive", "moving_average"):
        a = create(name).fit(train, horizon=H, future=future).predict(h=H)
        b = create(name).fit(train, horizon=H).predict(h=H)
        pd.testing.assert_frame_equal(a, b)
    assert create("xgboost").uses_future_covariates and not create("naive").uses_future_covariates


def test_a_plan_with_gaps_or_unknown_columns_is_refused(promo_panel):
    full, cutoff = promo_panel
    train, future, _ = _split(full, cutoff)
    with pytest.raises(SchemaError, match=r"no finite value of \['promo'\]"):
        create("xgboost", **XGB).fit(train, horizon=H, future=future.iloc[1:])
    with pytest.raises(SchemaError, match="missing from the history: \\['price'\\]"):
        create("xgboost", **XGB).fit(train, horizon=H, future=future.assign(price=1.0))
    m = create("xgboost", **XGB).fit(train, horizon=H, future=future)
    with pytest.raises(SchemaError, match="lacks the covariates \\['promo'\\]"):
        m.predict(h=H, future=future.drop(columns="promo").assign(price=1.0))
    with pytest.raises(SchemaError, match="no finite value"):
        m.predict(h=H, future=future.assign(promo=np.inf))


# --------------------------------------------------------------------------- config
def _config(tmp_path, known_future, kind="sales"):
    doc = yaml.safe_load((REPO / "examples" / "weekly_sales" / "darkhorse.yaml").read_text())
    doc["sources"][0]["path"] = str(REPO / "examples" / "weekly_sales" / "weekly_sales.csv")
    doc["sources"][0]["known_future"] = known_future
    if kind == "amazon_reviews":
        doc["sources"] = [{"name": "r", "kind": "amazon_reviews", "path": "x.jsonl", "known_future": known_future}]
    path = tmp_path / "darkhorse.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


def test_config_declares_covariates_with_their_fill_rule(tmp_path):
    cfg = _config(tmp_path, [
        {"column": "Unit Price", "agg": "mean"},
        {"column": "promo", "agg": "max"},
        {"calendar": "christmas"},
        {"name": "easter_week", "calendar": "easter"},
    ])
    got = [(c.feature, c.fill_rule) for c in cfg.known_future()]
    assert got == [("unit_price", "carry_forward"), ("promo", "zero"), ("christmas", "zero"),
                   ("easter_week", "zero")]
    entry = cfg.dbt_vars()["raw_sources"]["sales"]["known_future"]
    assert entry[0] == {"name": "unit_price", "column": "Unit Price", "calendar": None, "agg": "mean",
                        "fill": "carry_forward"}
    assert "known_future" not in _config(tmp_path, []).dbt_vars()["raw_sources"]["sales"]


@pytest.mark.parametrize(
    ("known_future", "kind", "message"),
    [
        ([{"column": "p", "calendar": "easter"}], "sales", "exactly one of column or calendar"),
        ([{"column": "units"}], "sales", r"known_future.0: name 'units' is a panel column"),
        ([{"calendar": "easter"}, {"column": "x", "name": "easter"}], "sales", "already declared"),
        ([{"calendar": "diwali"}], "sales", "known_future.0.calendar"),
        ([{"column": "p", "agg": "median"}], "sales", "known_future.0.agg"),
        ([{"column": "price"}], "amazon_reviews", "calendar flags only"),
    ],
)
def test_config_errors_name_the_field(tmp_path, known_future, kind, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, known_future, kind)


@pytest.mark.parametrize(
    ("known_future", "plan", "message"),
    [
        ([{"calendar": "easter"}], "plan.csv", "declare at least one known_future entry with a column"),
        ([{"column": "promo"}], ["a.csv", "b.parquet"], "all be CSV .* or all Parquet"),
        ([{"column": "promo"}], "plan.xlsx", "all be CSV .* or all Parquet"),
    ],
)
def test_config_refuses_a_plan_it_could_not_read(tmp_path, known_future, plan, message):
    doc = yaml.safe_load((REPO / "examples" / "weekly_sales" / "darkhorse.yaml").read_text())
    doc["sources"][0].update(path=str(REPO / "examples" / "weekly_sales" / "weekly_sales.csv"),
                             known_future=known_future, plan=plan)
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "darkhorse.yaml")


def test_config_passes_a_plan_to_dbt_resolved_against_the_config(tmp_path):
    cfg = _config(tmp_path, [{"column": "promo"}])
    assert "plan" not in cfg.dbt_vars()["raw_sources"]["sales"]
    doc = yaml.safe_load(cfg.path.read_text())
    doc["sources"][0]["plan"] = "plans/*.csv"
    cfg.path.write_text(yaml.safe_dump(doc))
    got = load_config(cfg.path).dbt_vars()["raw_sources"]["sales"]["plan"]
    assert got == {"paths": [str(tmp_path / "plans" / "*.csv")], "format": "csv"}


# --------------------------------------------------------------------------- dbt -> gate -> Feast -> history
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A weekly sales file with a price and a promotion flag: 6 items x 30 weeks (Monday-dated),
    item 'b' has no row in week 10 (its price carried forward, its promotion 0), item 'c' sold
    nothing in week 12 on a promotion at a new price (a row of 0 units), item 'd' has a row of -3
    units in week 14 on a promotion (set aside as negative_quantity). A plan file gives item 'a'
    a promotion at 7.5 in the first week after the data and a price of 8 two weeks later (its
    promotion cell blank), and a price of 50 in week 5, which the sales rows give already."""
    from darkhorse.app.build import build

    from .conftest import write_config

    tmp = tmp_path_factory.mktemp("covariates")
    weeks = pd.date_range("2010-11-01", periods=30, freq="7D")
    rows = []
    for i, item in enumerate("abcdef"):
        for w, day in enumerate(weeks):
            if item == "b" and w == 10:
                continue
            promo = "yes" if (w + i) % 5 == 0 else "no"
            units, price = 10 + i + (20 if promo == "yes" else 0), 2.0 + i + 0.1 * w
            if (item, w) in (("c", 12), ("d", 14)):
                units, price, promo = (0, 9.5, "yes") if item == "c" else (-3, 99.0, "yes")
            rows.append({"sku": item, "week": day.strftime("%Y-%m-%d"), "units": units, "Unit Price": price,
                         "on_promo": promo})
    path = tmp / "sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    # dated by the Friday of each week, as a planning sheet may be
    friday = [(weeks[-1] + pd.Timedelta(weeks=k, days=4)).strftime("%Y-%m-%d") for k in (1, 3)]
    (tmp / "plan.csv").write_text(
        f"sku,week,Unit Price,on_promo\na,{friday[0]},7.5,yes\na,{friday[1]},8,\n"
        f"a,{weeks[5].strftime('%Y-%m-%d')},50,no\n"
    )
    kf = [{"column": "Unit Price", "agg": "mean", "name": "price"}, {"column": "on_promo", "agg": "max"},
          {"calendar": "christmas"}]
    cfg = write_config(tmp, [{"name": "shop", "kind": "sales", "path": str(path), "granularity": "weekly",
                              "columns": {"item_id": "sku", "date": "week", "quantity": "units"},
                              "known_future": kf, "plan": "plan.csv"}], panel={"horizon_weeks": H})
    return cfg, build(cfg, progress=lambda *_: None)


def _mart(cfg) -> pd.DataFrame:
    import duckdb

    return duckdb.sql(f"select * from read_parquet('{cfg.marts_dir}/item_week_covariates.parquet')").df()


@pytest.mark.integration
def test_the_mart_is_dense_filled_and_reaches_a_horizon_past_the_data(built):
    cfg, summary = built
    assert summary["gate"]["success"]
    m = _mart(cfg).sort_values(["item_id", "week_start"])
    assert len(m) == 6 * (30 + H) and m[["price", "on_promo", "christmas"]].notna().all().all()
    b = m[m["item_id"] == "b"].set_index("week_start")
    w10 = pd.Timestamp("2010-11-01") + pd.Timedelta(weeks=10)
    assert b.loc[w10, "price"] == pytest.approx(3.0 + 0.9)      # week 9's price, carried forward
    assert b.loc[w10, "on_promo"] == 0.0                         # no row: no promotion
    # a week that sold nothing still says its price and promotion; a row set aside says nothing
    c, d = (m[m["item_id"] == i].set_index("week_start") for i in "cd")
    w12, w14 = (pd.Timestamp("2010-11-01") + pd.Timedelta(weeks=k) for k in (12, 14))
    assert (c.loc[w12, "price"], c.loc[w12, "on_promo"]) == (pytest.approx(9.5), 1.0)
    assert (d.loc[w14, "price"], d.loc[w14, "on_promo"]) == (pytest.approx(5.0 + 1.3), 0.0)
    assert set(m["on_promo"]) == {0.0, 1.0}
    last = pd.Timestamp("2010-11-01") + pd.Timedelta(weeks=29)
    future = b[b.index > last]
    assert len(future) == H and np.allclose(future["price"], 3.0 + 2.9)  # the last price, carried
    # Christmas 2010 (a Saturday) is in the week of Monday 2010-12-20, and only there
    flagged = sorted(m.loc[m["christmas"] == 1, "week_start"].unique())
    assert [pd.Timestamp(d) for d in flagged] == [pd.Timestamp("2010-12-20")]
    stamp = pd.to_datetime(m["known_at"]).dt.tz_convert(None)
    assert (pd.to_datetime(m["week_start"]) - stamp == pd.Timedelta(weeks=H - 1)).all()


@pytest.mark.integration
def test_a_plan_gives_the_weeks_after_the_data_and_the_sales_rows_win(built):
    cfg, summary = built
    assert summary["gate"]["success"]
    a = _mart(cfg).query("item_id == 'a'").set_index("week_start").sort_index()
    first = pd.Timestamp("2010-11-01") + pd.Timedelta(weeks=30)  # the first week after the data
    future = a[a.index >= first]
    # the plan's price from its week on, carried forward between and after its rows
    assert future["price"].tolist() == pytest.approx([7.5, 7.5, 8.0] + [8.0] * (H - 3))
    # the promotion in its week; a blank cell and the weeks without a plan row: none
    assert future["on_promo"].tolist() == [1.0] + [0.0] * (H - 1)
    # week 5 sold: its own mean price, not the plan's 50
    assert a.loc[pd.Timestamp("2010-11-01") + pd.Timedelta(weeks=5), "price"] == pytest.approx(2.5)
    # the plan is an input of the published snapshot: its id covers the plan file too
    from darkhorse.core import publish as pub

    inputs = [str(cfg.root / "sales.csv"), str(cfg.root / "plan.csv")]
    assert pub.read_manifest(cfg)["data_snapshot"] == pub.data_snapshot_id(inputs)
    # the history hands the plan to the members fitted for a release
    from training.history import load_history

    h = load_history(cfg)
    plan = h.future(h.last_week, H).query("unique_id == 'a'").sort_values("ds")
    assert plan["price"].tolist()[:3] == pytest.approx([7.5, 7.5, 8.0])
    assert plan["on_promo"].tolist()[:2] == [1.0, 0.0]


@pytest.mark.integration
def test_a_plan_naming_an_item_the_panel_lacks_fails_the_gate_and_publishes_nothing(built):
    from darkhorse.app.build import GateFailed, build

    cfg, _ = built
    plan = cfg.root / "plan.csv"
    good, before = plan.read_text(), _mart(cfg)
    try:
        plan.write_text(good + "zz,2011-06-03,1,yes\n")  # 'zz' never sold
        with pytest.raises(GateFailed, match=r"is_panel_item.*item_id=zz"):
            build(cfg, progress=lambda *_: None)
    finally:
        plan.write_text(good)
    pd.testing.assert_frame_equal(_mart(cfg), before)  # the last good mart stays published


@pytest.mark.integration
def test_plan_items_the_panel_lacks_within_the_gate_share_plan_nothing_and_are_named(built):
    """A launch in the plan (an item that has not sold yet) with `gate.max_unknown_plan_items`
    loosened: the build publishes, says which items planned nothing, and the mart is as before;
    above the share it is refused."""
    from darkhorse.app.build import GateFailed, build

    cfg, _ = built
    plan = cfg.root / "plan.csv"
    rows = ["item_id", "week_start"]
    good, before = plan.read_text(), _mart(cfg).sort_values(rows, ignore_index=True)
    half = cfg.model_copy(update={"gate": cfg.gate.model_copy(update={"max_unknown_plan_items": 0.5})})
    notes: list[str] = []
    try:
        plan.write_text(good + "zz,2011-06-03,1,yes\n")  # 1 of the plan's 2 items
        summary = build(half, progress=notes.append)
        assert summary["gate"]["success"] and summary["gate"]["unknown_plan_items"] == ["zz"]
        assert any("1 item(s) the panel does not hold plan nothing" in n and "zz" in n for n in notes)
        # zz planned nothing, 'a' as planned
        pd.testing.assert_frame_equal(_mart(cfg).sort_values(rows, ignore_index=True), before)
        plan.write_text(good + "zz,2011-06-03,1,yes\nyy,2011-06-03,1,no\n")  # 2 of 3: above a half
        with pytest.raises(GateFailed, match=r"at most 50% others: gate.max_unknown_plan_items.*2 of 3 unexpected.*item_id=yy"):
            build(half, progress=lambda *_: None)
    finally:
        plan.write_text(good)
        build(cfg, progress=lambda *_: None)  # the module's publish, as the other tests read it
    pd.testing.assert_frame_equal(_mart(cfg).sort_values(rows, ignore_index=True), before)


@pytest.mark.integration
def test_feast_serves_a_week_only_from_an_origin_a_horizon_before_it(built):
    from darkhorse.core import features as feat

    cfg, _ = built
    week = pd.Timestamp("2011-01-10")
    stamp = week - pd.Timedelta(weeks=H - 1)  # the close of the origin week H weeks before
    rows = pd.DataFrame({"item_id": ["a", "a"], "event_timestamp": [stamp, stamp - pd.Timedelta(seconds=1)]})
    rows["event_timestamp"] = rows["event_timestamp"].dt.tz_localize("UTC")
    got = feat.historical_features(cfg, rows, service=feat.KNOWN_FUTURE_SERVICE)
    served = pd.to_datetime(got["covariate_week"]).dt.tz_convert(None)
    assert served.iloc[0] == week                          # known at that origin
    assert served.iloc[1] == week - pd.Timedelta(weeks=1)  # a moment earlier: not yet


@pytest.mark.integration
def test_history_gives_each_origin_only_the_horizon_ahead(built):
    from training.history import load_history

    cfg, _ = built
    h = load_history(cfg)
    assert {"price", "on_promo", "christmas"} <= set(h.covariates) <= set(h.frame.columns)
    cutoff = h.last_week - pd.Timedelta(weeks=8)
    plan = h.future(cutoff, H)
    assert plan[DS].min() == cutoff + pd.Timedelta(weeks=1) and plan[DS].max() == cutoff + pd.Timedelta(weeks=H)
    assert len(plan) == 6 * H
    # the plan's values are the mart's (read through Feast), the history's columns too
    m = _mart(cfg).rename(columns={"item_id": ID, "week_start": DS})
    m[DS] = pd.to_datetime(m[DS])
    joined = plan.merge(m, on=[ID, DS], suffixes=("", "_mart"))
    assert np.allclose(joined["price"], joined["price_mart"])
    past = h.until(cutoff).merge(m, on=[ID, DS], suffixes=("", "_mart"))
    assert np.allclose(past["on_promo"], past["on_promo_mart"])
    # after the data: a horizon of plans for the final fit
    assert h.future(h.last_week, H)[DS].max() == h.last_week + pd.Timedelta(weeks=H)


@pytest.mark.integration
def test_history_leaves_out_the_weekly_features_a_sales_file_cannot_fill(built, caplog):
    """A sales file has no customers, ratings or votes: Feast serves those features as 0 at every
    item and week, and the members do not get them; the ones that vary stay."""
    import logging

    from training.history import load_history

    cfg, _ = built
    with caplog.at_level(logging.INFO, logger="training.history"):
        h = load_history(cfg)
    for c in ("customers", "customers_lookback_sum", "mean_rating", "helpful_votes", "verified_ratio"):
        assert c not in h.covariates and c not in h.frame.columns
    assert {"units_lookback_sum", "units_12w_sum", "week_of_year", "weeks_since_first_event"} <= set(h.covariates)
    past = [c for c in h.covariates if c not in ("price", "on_promo", "christmas")]
    assert all(h.frame[c].nunique() > 1 for c in past)
    assert "left out: " in caplog.text and "mean_rating" in caplog.text
    fitted = create("xgboost", **XGB).fit(h.until(h.last_week), horizon=H, future=h.future(h.last_week, H))
    assert "cov_units_lookback_sum" in fitted.feature_names_
    assert not any(n.startswith("cov_customers") or n == "cov_mean_rating" for n in fitted.feature_names_)


@pytest.mark.integration
def test_history_gives_each_fact_one_covariate(built):
    """The item's age is the weekly feature Feast serves (weeks_since_first_event), not a second
    copy computed beside it: no two covariates hold the same values at every row."""
    from training.history import load_history

    cfg, _ = built
    h = load_history(cfg)
    assert "weeks_since_first_event" in h.covariates and h.frame["weeks_since_first_event"].nunique() > 1
    cols = {c: h.frame[c].to_numpy() for c in h.covariates}
    twins = [(a, b) for i, a in enumerate(h.covariates) for b in h.covariates[i + 1:] if np.array_equal(cols[a], cols[b])]
    assert twins == []


@pytest.mark.integration
def test_the_gate_refuses_a_covariate_left_unfilled(built, tmp_path):
    import shutil

    import duckdb

    from darkhorse.app.build import gate_only

    cfg, _ = built
    cand = tmp_path / "candidate"
    shutil.copytree(cfg.marts_dir, cand)
    path = cand / "item_week_covariates.parquet"
    duckdb.sql(
        f"copy (select * replace (case when item_id = 'c' then 'nan'::double else price end as price) "
        f"from read_parquet('{path}')) to '{path}.tmp' (format parquet)"
    )
    (cand / "item_week_covariates.parquet.tmp").replace(path)
    _, result = gate_only(cfg, cand)
    assert not result.success
    assert any("item_week_covariates" in str(f) and "price" in str(f) for f in result.failures)


# --------------------------------------------------------------------------- the backtest
def _promo_history(full: pd.DataFrame, n_future: int = 10):
    from training.history import History

    last = full[DS].max() - pd.Timedelta(weeks=n_future)
    frame = full[full[DS] <= last].reset_index(drop=True)
    labels = pd.DataFrame(columns=[ID, DS, "label", "growth_score", "label_available_at"])
    return History(frame=frame, labels=labels, covariates=["promo"], snapshot="t", data_snapshot="t",
                   first_week=frame[DS].min(), last_week=last, known_future=full[[ID, DS, "promo"]].copy())


def test_the_backtest_gives_each_origin_only_its_horizon(tmp_path, promo_panel):
    """Poison every covariate value after an origin's target window: that origin's forecasts
    are unchanged, the next origin (whose window holds those weeks) sees the poison."""
    from darkhorse.core.config import ModelSpec
    from training.backtest import plan_cutoffs, run_backtest

    from .conftest import write_config
    from .retail_frames import RETAIL

    full, _ = promo_panel
    cfg = write_config(tmp_path, [{"name": "r", "kind": "order_lines", "path": str(RETAIL)}], {"horizon_weeks": H})
    cfg = cfg.model_copy(update={"backtest": cfg.backtest.model_copy(update={"n_windows": 2, "warmup_windows": 1})})
    specs = [ModelSpec(model="naive"), ModelSpec(model="xgboost", params=XGB)]
    clean_h = _promo_history(full)
    origin = plan_cutoffs(clean_h, cfg, H)[1][0]
    poisoned_kf = clean_h.known_future.copy()
    poisoned_kf.loc[poisoned_kf[DS] > origin + pd.Timedelta(weeks=H), "promo"] = 50.0
    poisoned_h = _promo_history(full)
    object.__setattr__(poisoned_h, "known_future", poisoned_kf)
    run = lambda h: run_backtest(cfg, history=h, specs=specs, with_hot_sellers=False, report=False,  # noqa: E731
                                 show_progress=False).forecasts
    clean, poisoned = run(clean_h), run(poisoned_h)
    at = lambda fc, c: fc[fc["cutoff"] == c].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(at(clean, origin), at(poisoned, origin))
    later = origin + pd.Timedelta(weeks=cfg.backtest.step_weeks)
    assert not np.allclose(at(clean, later)["xgboost"], at(poisoned, later)["xgboost"])
    pd.testing.assert_frame_equal(at(clean, later)[[ID, DS, "naive"]], at(poisoned, later)[[ID, DS, "naive"]])
