"""Customer signals of the hot-seller classifier: by hand on a few purchase lines, joined only
where the marts hold customer lines, and nothing bought after an origin reaches that origin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from training import hot_sellers as hs
from training.hot_sellers.features import CUSTOMER_SIGNALS, customer_signals, with_customer_signals

L, H = 4, 3
SETTINGS = hs.Settings(lookback=L, horizon=H, floor=1.0, forecast_model="blend",
                       classifier={"n_estimators": 8, "max_depth": 2, "n_jobs": 1})
START = pd.Timestamp("2022-01-03")


def _week(k: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=k)


def _lines(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    """(customer, item, week index) -> the columns of customer_purchases.parquet."""
    df = pd.DataFrame(rows, columns=["customer_id", "item_id", "k"])
    df["week_start"] = pd.to_datetime([_week(k) for k in df["k"]]).date
    df["available_at"] = pd.to_datetime([_week(k + 1) for k in df["k"]]).tz_localize("UTC")
    return df.drop(columns="k")


def _spine(items: list[str], n_weeks: int) -> pd.DataFrame:
    return pd.DataFrame([(i, _week(k)) for i in items for k in range(n_weeks)], columns=["unique_id", "ds"])


def test_customer_signals_by_hand():
    # a: c1 buys a in weeks 0 and 5 (first shop week 0); c2 first buys anything (b) in week 3,
    # a in week 4; c3 buys a in week 5 only; b: c2 in week 3
    lines = _lines([("c1", "a", 0), ("c1", "a", 0), ("c2", "b", 3), ("c2", "a", 4), ("c1", "a", 5), ("c3", "a", 5)])
    spine = _spine(["a", "b"], 8)
    got = customer_signals(spine, lines, cutoff=_week(7), lookback=L).set_index([spine["unique_id"], spine["ds"]])
    a = got.loc["a"]
    # window of week 5 = weeks 2..5: c2 (week 4), c1 and c3 (week 5) -> 3 buyers
    assert a.loc[_week(5), "cust_buyers"] == 3
    # new to the shop within weeks 2..5: c2 (first week 3), c3 (first week 5); c1 started in week 0
    assert a.loc[_week(5), "cust_new_share"] == pytest.approx(2 / 3)
    # bought a before week 2: c1 only
    assert a.loc[_week(5), "cust_repeat_rate"] == pytest.approx(1 / 3)
    # a window earlier (weeks -2..1): c1 -> growth log(4) - log(2)
    assert a.loc[_week(5), "cust_buyers_growth"] == pytest.approx(np.log(4) - np.log(2))
    assert a["cust_buyers"].tolist() == [1, 1, 1, 1, 1, 3, 3, 3]  # week 4: weeks 1..4, c2 only
    assert a["cust_buyers_to_date"].tolist() == [1, 1, 1, 1, 2, 3, 3, 3]
    # week 0: c1 is new to the shop in the window and had not bought a before
    assert (a.loc[_week(0), "cust_new_share"], a.loc[_week(0), "cust_repeat_rate"]) == (1.0, 0.0)
    b = got.loc["b"]
    assert b["cust_buyers"].tolist() == [0, 0, 0, 1, 1, 1, 1, 0]
    assert b[["cust_new_share", "cust_repeat_rate"]].iloc[:3].isna().all().all()  # nobody bought: missing
    assert b.loc[_week(7), "cust_buyers_growth"] == pytest.approx(-np.log(2))


def test_lines_after_the_origin_are_not_read():
    lines = _lines([("c1", "a", 0), ("c2", "a", 2), ("c3", "a", 3)])
    spine = _spine(["a"], 3)  # weeks 0..2, the origin is week 2
    clean = customer_signals(spine, lines, cutoff=_week(2), lookback=L)
    later = customer_signals(spine, lines[lines["week_start"] < _week(3).date()], cutoff=_week(2), lookback=L)
    pd.testing.assert_frame_equal(clean, later)
    assert clean["cust_buyers"].tolist() == [1, 1, 2]


# --------------------------------------------------------------------------- in score_origin
def _shop(n_items: int = 30, n_weeks: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A weekly panel and the customer lines it came from: each item draws buyers among
    recurring and new customers, each buyer one unit."""
    rng = np.random.default_rng(seed)
    rows, next_customer = [], 0
    regulars = [f"r{k}" for k in range(40)]
    for i in range(n_items):
        peak, level = rng.integers(0, n_weeks), rng.uniform(1, 6)
        for k in range(n_weeks):
            n = rng.poisson(level * (1 + 3 * np.exp(-((k - peak) / 4.0) ** 2)))
            for _ in range(n):
                if rng.random() < 0.5:
                    rows.append((f"n{next_customer}", f"i{i:02d}", k))
                    next_customer += 1
                else:
                    rows.append((str(rng.choice(regulars)), f"i{i:02d}", k))
    lines = _lines(rows)
    units = lines.groupby(["item_id", "week_start"]).size()
    frame = _spine([f"i{i:02d}" for i in range(n_items)], n_weeks)
    frame["y"] = [float(units.get((i, d.date()), 0)) for i, d in zip(frame["unique_id"], frame["ds"], strict=True)]
    return frame, lines


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(L, min_periods=1).sum())
    future = g.transform(lambda v: v[::-1].rolling(H, min_periods=H).mean()[::-1].shift(-1))
    lab = pd.DataFrame({"unique_id": frame["unique_id"], "ds": frame["ds"], "growth_score": future / np.maximum(past / L, 1)})
    lab = lab[lab["growth_score"].notna()].copy()
    cut = lab.groupby("ds")["growth_score"].transform(lambda v: v.quantile(0.9))
    lab["label"] = (lab["growth_score"] >= cut).astype(float)
    lab["label_available_at"] = (lab["ds"] + pd.Timedelta(weeks=H + 1)).dt.tz_localize("UTC")
    return lab.reset_index(drop=True)


def _forecast(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    fut = frame[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + pd.Timedelta(weeks=H))].copy()
    fut["blend"] = 2.0  # uninformative: the ranking has to come from the past and the customers
    return fut.drop(columns="y").reset_index(drop=True)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    frame, lines = _shop()
    folder = tmp_path_factory.mktemp("marts")
    lines.to_parquet(folder / "customer_purchases.parquet", index=False)
    return frame, lines, folder, _week(45)


def _score(frame, lines_folder, cutoff, settings=SETTINGS):
    train = frame[frame["ds"] <= cutoff].reset_index(drop=True)
    return hs.score_origin(train, _forecast(frame, cutoff), _labels(frame), cutoff=cutoff, covariates=[],
                           settings=dataclasses.replace(settings, marts_dir=lines_folder))


def test_the_classifier_reads_the_customer_signals_where_the_marts_hold_customer_lines(shop, tmp_path):
    frame, _, folder, c = shop
    s, clf = _score(frame, str(folder), c)
    assert set(CUSTOMER_SIGNALS) <= set(clf.feature_names_)
    assert clf.feature_importance_[list(CUSTOMER_SIGNALS)].sum() > 0
    # no customer lines (a reviews-only panel), or switched off: the features are absent and the
    # scores those of a run without marts
    plain, plain_clf = _score(frame, None, c)
    assert not set(CUSTOMER_SIGNALS) & set(plain_clf.feature_names_)
    empty, _ = _score(frame, str(tmp_path), c)
    pd.testing.assert_frame_equal(plain, empty)
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "customer_signals": False})
    unused, _ = _score(frame, str(folder), c, settings=off)
    pd.testing.assert_frame_equal(plain, unused)
    assert not np.allclose(s.loc[s["model"] == "classifier", "score"], plain.loc[plain["model"] == "classifier", "score"])


def test_customer_lines_after_the_origin_change_nothing_at_the_origin(shop, tmp_path):
    frame, lines, folder, c = shop
    clean, _ = _score(frame, str(folder), c)
    close = pd.Timestamp(c + pd.Timedelta(weeks=1), tz="UTC")
    late = lines["available_at"] > close
    assert late.any()
    rng = np.random.default_rng(1)
    poisoned = lines.copy()
    # later lines: other customers and items, and a flood of new buyers of every item
    poisoned.loc[late, "customer_id"] = [f"x{k}" for k in range(int(late.sum()))]
    poisoned.loc[late, "item_id"] = rng.permutation(poisoned.loc[late, "item_id"].to_numpy())
    flood = _lines([(f"z{k}", i, 50) for k in range(30) for i in sorted(lines["item_id"].unique())])
    pd.concat([poisoned, flood], ignore_index=True).to_parquet(tmp_path / "customer_purchases.parquet", index=False)
    again, _ = _score(frame, str(tmp_path), c)
    pd.testing.assert_frame_equal(clean, again)
    # the same poison before the origin does change the scores: the file is read
    early = lines.copy()
    known = early["available_at"] <= close
    early.loc[known, "customer_id"] = [f"x{k}" for k in range(int(known.sum()))]
    early.to_parquet(tmp_path / "customer_purchases.parquet", index=False)
    moved, _ = _score(frame, str(tmp_path), c)
    assert not clean["score"].equals(moved["score"])


def test_a_panel_sharing_no_item_with_the_marts_gets_no_signals(shop):
    frame, _, folder, c = shop
    feats = frame[["unique_id", "ds"]].assign(unique_id=lambda d: "other-" + d["unique_id"])
    assert with_customer_signals(feats, folder, cutoff=c, lookback=L) is feats
    joined = with_customer_signals(frame[["unique_id", "ds"]], folder, cutoff=c, lookback=L)
    assert list(joined.columns) == ["unique_id", "ds", *CUSTOMER_SIGNALS]
