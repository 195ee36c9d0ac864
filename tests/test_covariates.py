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
    assert m1.model_.get_booster().save_raw() == m2.model_.get_booster().save_raw()
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
