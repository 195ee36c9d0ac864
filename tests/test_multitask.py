"""The multi-task hot-seller scorer on a small panel with a planted graph and text effect:
it trains on known labels, scores every item at the origin, every ablation runs, and
poisoning the graph, the text or the series after the origin changes nothing at the origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.schema import DS, ID, Y
from training.multitask.context import GRAPH_FEATURES, GraphText
from training.multitask.scorer import MultiTaskHotSellerScorer

WEEKS = pd.date_range("2023-01-02", periods=40, freq="7D")
H, LB = 4, 2
SMALL = {"window": 8, "d_model": 8, "n_heads": 2, "ff_size": 16, "hidden": 16, "max_epochs": 2,
         "text_dim": 4, "n_threads": 1, "horizon": H, "lookback": LB, "floor": 1.0}


def _panel(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 60
    ids = [f"i{k:02d}" for k in range(n)]
    rate = np.full((n, len(WEEKS)), 3.0)
    edges, texts = [], []
    for p in range(15):  # leader 2p surges at week s, its neighbour 2p+1 four weeks later
        lead, follow, s = 2 * p, 2 * p + 1, 8 + 2 * p
        rate[lead, s:] *= 6
        rate[follow, s + 4:] *= 6
        for a, b in ((lead, follow), (follow, lead)):
            edges.append({ID: ids[a], "neighbour_id": ids[b], DS: WEEKS[2], "shared_customers": 3, "jaccard": 0.2})
        for w in range(s + 1, s + 4):
            texts.append({ID: ids[follow], DS: WEEKS[w], "text": "everyone talks about this buzz"})
    for k in range(n):
        for w in range(0, len(WEEKS), 3):
            texts.append({ID: ids[k], DS: WEEKS[w], "text": f"plain product words {k % 5}"})
    y = rng.poisson(rate)
    frame = pd.DataFrame({ID: np.repeat(ids, len(WEEKS)), DS: np.tile(WEEKS, n), Y: y.ravel().astype(float)})
    frame["customers"] = frame[Y]
    # labels: the top 10% growth of each week over the next H weeks
    g = frame.copy()
    grp = g.groupby(ID)[Y]
    fut = grp.transform(lambda s: s[::-1].rolling(H, min_periods=H).sum()[::-1].shift(-1))
    past = grp.transform(lambda s: s.rolling(LB, min_periods=1).mean())
    g["growth"] = (fut / H) / np.maximum(past, 1.0)
    g = g[g["growth"].notna()].copy()
    g["label"] = (g.groupby(DS)["growth"].rank(ascending=False, method="first") <= 6).astype(float)
    g["label_available_at"] = (g[DS] + pd.Timedelta(weeks=H + 1)).dt.tz_localize("UTC")
    features = pd.DataFrame(columns=[ID, DS, *GRAPH_FEATURES])
    ctx = GraphText(edges=pd.DataFrame(edges), features=features, texts=pd.DataFrame(texts))
    return frame, g[[ID, DS, "label", "label_available_at"]], ctx


def _known(labels: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return labels[labels["label_available_at"] <= pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")]


def _score(frame, labels, ctx, cutoff, **params):
    m = MultiTaskHotSellerScorer(**{**SMALL, **params})
    m.fit(frame, _known(labels, cutoff), covariates=["customers"], cutoff=cutoff, context=ctx)
    return m, m.predict_proba(frame, covariates=["customers"], cutoff=cutoff, context=ctx)


@pytest.fixture(scope="module")
def panel():
    return _panel()


def test_it_trains_on_known_labels_and_scores_every_item(panel):
    frame, labels, ctx = panel
    cutoff = WEEKS[30]
    m, p = _score(frame, labels, ctx, cutoff)
    assert sorted(p.index) == sorted(frame[ID].unique())
    assert ((p > 0) & (p < 1)).all() and p.std() > 0
    assert m.fit_info_["positives"] > 0 and m.fit_info_["train_rows"] > 0
    assert m.aux_columns_ == ["customers"]
    # the training samples' horizon closed by the origin
    known = _known(labels, cutoff)
    assert m.n_train_ == int((known[DS] <= cutoff - pd.Timedelta(weeks=H)).sum()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("variant", [
    {"use_graph": False}, {"use_text": False}, {"multi_task": False}, {"cross_attention": False}, {"staged": True},
])
def test_every_ablation_runs(panel, variant):
    frame, labels, ctx = panel
    m, p = _score(frame, labels, ctx, WEEKS[30], **variant)
    assert len(p) == frame[ID].nunique() and p.notna().all()
    assert all(m.fit_info_[k] == v for k, v in variant.items())
    if variant.get("staged"):
        assert "stage1" in m.fit_info_


def test_poisoning_after_the_origin_changes_nothing_at_the_origin(panel):
    frame, labels, ctx = panel
    cutoff = WEEKS[30]
    _, clean = _score(frame, labels, ctx, cutoff)
    later = WEEKS[31:]
    rng = np.random.default_rng(1)
    ids = frame[ID].unique()
    poison_edges = pd.DataFrame({ID: rng.choice(ids, 200), "neighbour_id": rng.choice(ids, 200),
                                 DS: rng.choice(later, 200), "shared_customers": 50, "jaccard": 0.9})
    # an existing edge's weight grows after the origin as well
    grown = ctx.edges.assign(**{DS: WEEKS[32], "shared_customers": 99})
    poison_text = pd.DataFrame({ID: ids, DS: WEEKS[33], "text": "poison buzz buzz everyone"})
    poisoned = GraphText(edges=pd.concat([ctx.edges, poison_edges, grown], ignore_index=True),
                         features=ctx.features,
                         texts=pd.concat([ctx.texts, poison_text], ignore_index=True))
    future = frame[DS] > cutoff
    frame2 = frame.copy()
    frame2.loc[future, Y] = 1000.0
    _, dirty = _score(frame2, labels, poisoned, cutoff)
    pd.testing.assert_series_equal(clean.sort_index(), dirty.sort_index())


@pytest.mark.slow
def test_its_score_joins_the_hot_seller_ranking(panel, tmp_path):
    from training import hot_sellers as hs

    frame, labels, ctx = panel
    for name, part in (("item_edges", ctx.edges), ("item_week_texts", ctx.texts),
                       ("item_graph_features", ctx.features.astype({c: "float64" for c in GRAPH_FEATURES}))):
        part.rename(columns={ID: "item_id", DS: "week_start"}).to_parquet(tmp_path / f"{name}.parquet")
    cutoff = WEEKS[30]
    train = frame[frame[DS] <= cutoff].reset_index(drop=True)
    last = train.groupby(ID).tail(1)
    forecast = pd.concat([last.assign(**{DS: cutoff + pd.Timedelta(weeks=k)}) for k in range(1, H + 1)])
    forecast = forecast[[ID, DS]].assign(blend=forecast[Y].to_numpy())
    settings = hs.Settings(lookback=LB, horizon=H, floor=1.0, multitask={**SMALL, "marts_dir": str(tmp_path)})
    scores, _ = hs.score_origin(train, forecast, labels, cutoff=cutoff, covariates=["customers"], settings=settings)
    mt = scores[scores["model"] == "multitask"]
    assert len(mt) == train[ID].nunique() and mt["score"].between(0, 1).all()
    assert {"classifier", "momentum", "final"} <= set(scores["model"])
