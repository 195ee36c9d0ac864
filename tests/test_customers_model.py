"""Customers' next orders: metrics by hand, samples that never see their target or later lines,
the baselines, and the multi-task sequence model learning a pattern the baselines cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.customers import data as cdata
from training.customers.baselines import Baselines
from training.customers.evaluate import mrr, recall_at, scores

START = pd.Timestamp("2024-01-01")
N_ITEMS = 16


def _marts(n_customers: int = 60, n_weeks: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer c buys one order a week: items (s + t) and (s + t + 1) mod N_ITEMS at week t, so the
    next order is the two items after the last one (a sequence, not a repeat)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        s = int(rng.integers(0, N_ITEMS))
        for t in range(n_weeks):
            ts = START + pd.Timedelta(weeks=t, days=int(rng.integers(0, 5)), hours=10)
            for j, item in enumerate(((s + t) % N_ITEMS, (s + t + 1) % N_ITEMS)):
                q = 2 + (c % 3)
                rows.append({"customer_id": f"c{c}", "region": ["UK", "FR"][c % 2], "order_key": f"o{c}-{t}",
                             "item_id": f"i{item}", "event_at": ts.tz_localize("UTC"), "week_start": START + pd.Timedelta(weeks=t),
                             "quantity": float(q), "unit_price": 1.0 + item / 10, "revenue": q * (1.0 + item / 10),
                             "order_index": t + 1, "discount": 0.05 * j})
    lines = pd.DataFrame(rows)
    lines["line_index"] = lines.groupby("customer_id").cumcount() + 1
    lines["available_at"] = (pd.to_datetime(lines["week_start"]) + pd.Timedelta(weeks=1)).dt.tz_localize("UTC")
    weeks = (lines.groupby(["customer_id", "week_start"]).agg(orders=("order_key", "nunique")).reset_index())
    weeks["frequency"] = weeks.groupby("customer_id")["orders"].cumsum()
    weeks = weeks.assign(recency_days=3.0, monetary=10.0, lifetime_value=10.0 * weeks["frequency"],
                         product_diversity=np.minimum(weeks["frequency"] + 1, N_ITEMS),
                         tenure_weeks=weeks.groupby("customer_id").cumcount(), recency_score=2, frequency_score=2,
                         monetary_score=2, segment="regular")
    return lines, weeks


def test_metrics_by_hand():
    ranked = [["a", "b", "c"], ["x", "y", "z"]]
    baskets = [["b", "d"], ["q"]]
    assert recall_at(ranked, baskets, k=2) == pytest.approx((0.5 + 0.0) / 2)
    assert recall_at(ranked, baskets, k=1) == 0.0
    assert mrr(ranked, baskets) == pytest.approx((1 / 2 + 0) / 2)


def test_split_and_targets_never_see_later_lines():
    lines, weeks = _marts()
    split = cdata.make_split(lines, holdout_weeks=4, val_weeks=3)
    assert split.test_start == START + pd.Timedelta(weeks=16)
    tg = cdata.targets(lines, split)
    assert (tg["train"]["origin"] < split.val_start).all()
    assert tg["val"]["origin"].between(split.val_start, split.test_start - pd.Timedelta(days=1)).all()
    assert (tg["test"]["origin"] == split.test_start).all() and tg["test"]["customer_id"].is_unique
    vocab = cdata.Vocab.fit(lines[lines["week_start"] < split.val_start], max_items=50)
    s = cdata.build_samples(lines, weeks, vocab, targets=tg["test"], seq_len=6)
    for k in range(len(s)):
        c = s.customer[k]
        past = lines[(lines["customer_id"] == c) & (lines["week_start"] < split.test_start)]
        assert s.history[k] == past.sort_values("line_index")["item_id"].tolist()
        nxt = lines[(lines["customer_id"] == c) & (lines["week_start"] == split.test_start)]
        assert s.basket[k] == nxt["item_id"].tolist() and s.quantity[k] == nxt["quantity"].sum()
        # the sequence ends with the customer's last lines before the origin, most recent last
        want = [vocab.item_index[i] for i in s.history[k][-6:]]
        assert s.seq_items[k].tolist() == want
    # the week aggregate covers exactly the week before the origin (one order of 2 lines)
    assert np.allclose(s.temporal[:, 0], np.log1p(1)) and np.allclose(s.temporal[:, 3], np.log1p(2))


def test_baselines_rank_what_they_say():
    lines, _ = _marts(n_customers=4, n_weeks=6)
    extra = lines[lines["customer_id"] == "c0"].head(1)
    extra = pd.concat([extra.assign(item_id="i3", order_key=f"extra{k}") for k in range(8)])
    lines = pd.concat([lines, extra], ignore_index=True)  # i3 is in the most orders
    base = Baselines(k=5, popular_weeks=52).fit(lines)
    assert base.rank("most_popular", [])[0] == "i3"
    hist = ["i1", "i2", "i9", "i2"]
    assert base.rank("own_last_items", hist)[:3] == ["i2", "i9", "i1"]
    co = base.rank("co_purchase", ["i5"])
    assert set(co[:3]) <= {"i4", "i5", "i6"} and "i5" in co[:3]  # bought together with i5


@pytest.mark.slow
def test_sequence_model_learns_the_next_items():
    from training.customers.model import SequenceModel, SequenceParams

    lines, weeks = _marts(n_customers=80, n_weeks=20)
    split = cdata.make_split(lines, holdout_weeks=3, val_weeks=3)
    vocab = cdata.Vocab.fit(lines[lines["week_start"] < split.val_start], max_items=50)
    tg = cdata.targets(lines, split)
    p = SequenceParams(seq_len=8, embed_dim=16, hidden=16, trunk=32, max_epochs=15, patience=15, batch_size=64,
                       lr=1e-2, restart_epochs=10, dropout=0.0)
    sets = {k: cdata.build_samples(lines, weeks, vocab, targets=t, seq_len=p.seq_len) for k, t in tg.items()}
    model = SequenceModel(p, vocab).fit(sets["train"], sets["val"], progress=lambda *_: None)
    got = scores(model.predict(sets["test"], k=10), sets["test"])
    base = Baselines(k=10).fit(lines[lines["week_start"] < split.test_start])
    own = scores(base.predict("own_last_items", sets["test"]), sets["test"])
    popular = scores(base.predict("most_popular", sets["test"]), sets["test"])
    # own last items finds one of the two next items (the one bought last week), the model both
    assert got["recall@10"] > 0.9 > own["recall@10"] and got["recall@10"] > popular["recall@10"]
    assert got["mrr"] > 0.5
    # order sizes: 4, 6 or 8 units, revenue from the prices; the model is within a unit
    assert got["quantity_mae"] < 1.0
    assert model.epochs_ >= 1


def test_home_distance_features_come_from_the_distance_mart_and_flag_unknown_places():
    lines, weeks = _marts(n_customers=6, n_weeks=8)
    lines.loc[lines["customer_id"] == "c5", "region"] = "Unspecified"  # a region with no coordinates
    dist = pd.DataFrame({"region": ["UK", "UK", "FR", "FR"], "other_region": ["UK", "FR", "UK", "FR"],
                         "distance_km": [0.0, 880.0, 880.0, 0.0]})
    vocab = cdata.Vocab.fit(lines, max_items=50)
    assert vocab.regions[0] == "UK" and vocab.customer_width == cdata.CUSTOMER_FEATURES
    home = vocab.with_home_distances(dist)
    assert home.home_km == {"UK": 0.0, "FR": 880.0}  # Unspecified: none, not zero
    assert home.customer_width == cdata.CUSTOMER_FEATURES + cdata.HOME_FEATURES
    targets = pd.DataFrame({"customer_id": ["c0", "c1", "c5"], "origin": START + pd.Timedelta(weeks=4),
                            "order_index": 5})
    plain = cdata.build_samples(lines, weeks, vocab, targets=targets, seq_len=4)
    s = cdata.build_samples(lines, weeks, home, targets=targets, seq_len=4)
    np.testing.assert_array_equal(s.customer_feats[:, :cdata.CUSTOMER_FEATURES], plain.customer_feats)
    extra = s.customer_feats[:, cdata.CUSTOMER_FEATURES:]
    np.testing.assert_allclose(extra, [[0.0, 1.0], [np.log1p(880.0) / 10, 1.0], [0.0, 0.0]], rtol=1e-6)
