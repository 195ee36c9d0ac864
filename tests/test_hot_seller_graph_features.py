"""Graph features of the hot-seller classifier: joined per (item, week) from the
item_graph_features mart, absent when switched off or without the mart, and rows of weeks after
an origin never reach that origin's scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.hot_seller_marts import marts_folder, score_with_marts, top_growth_labels
from training import hot_sellers as hs
from training.hot_sellers.classifier import ClassifierSelectionError, keeps
from training.hot_sellers.combine import VARIANT_MARGIN_SE, choose
from training.hot_sellers.graph_features import GRAPH_COLUMNS, add_graph_features
from training.metrics import average_precision

L, H = 4, 3
START = pd.Timestamp("2022-01-03")
SETTINGS = hs.Settings(lookback=L, horizon=H, floor=1.0, classifier={"n_estimators": 8, "max_depth": 2, "n_jobs": 1,
                                                                    "graph_features": True})


def _week(k: int) -> pd.Timestamp:
    return START + pd.Timedelta(weeks=k)


def _mart(rows: list[tuple]) -> pd.DataFrame:
    """(item, week index, degree, neighbour_growth, hot share) -> the mart's columns."""
    df = pd.DataFrame(rows, columns=["item_id", "k", "degree", "neighbour_growth", "hot_neighbour_share"])
    df["week_start"] = pd.to_datetime([_week(k) for k in df["k"]]).date
    df["available_at"] = pd.to_datetime([_week(k + 1) for k in df["k"]]).tz_localize("UTC")
    df["neighbours"] = df["degree"].clip(upper=3)
    df["max_neighbour_growth"] = 2 * df["neighbour_growth"]
    df["surging_neighbours"] = (df["neighbour_growth"] >= 2).astype(int)
    df["surging_neighbour_share"] = df["surging_neighbours"] / df["neighbours"]
    return df.drop(columns="k")


def test_graph_features_join_per_item_and_week_with_their_defaults(tmp_path):
    _mart([("a", 1, 2, 1.5, 0.5), ("a", 2, 3, 2.0, None), ("b", 2, 1, 0.7, 1.0)]).to_parquet(
        tmp_path / "item_graph_features.parquet", index=False)
    feats = pd.DataFrame({"unique_id": ["b", "a", "a", "a", "c"], "ds": [_week(2), _week(0), _week(1), _week(2), _week(2)],
                          "lag_1": [1.0, 2, 3, 4, 5]}, index=[10, 11, 12, 13, 14])
    got = add_graph_features(feats, tmp_path)
    assert list(got.index) == [10, 11, 12, 13, 14]
    assert list(got.columns) == ["unique_id", "ds", "lag_1", *GRAPH_COLUMNS]
    assert got["graph_degree"].tolist() == [1, 0, 2, 3, 0]  # no edge known yet: 0
    assert got["graph_neighbour_growth"].tolist() == [0.7, 0, 1.5, 2.0, 0]
    assert got["graph_max_neighbour_growth"].tolist() == [1.4, 0, 3.0, 4.0, 0]
    assert got["graph_surging_neighbours"].tolist() == [0, 0, 0, 1, 0]
    assert got["graph_surging_share"].tolist() == [0, 0, 0, 1 / 3, 0]
    share = got["graph_hot_share"].to_numpy()
    assert share[0] == 1.0 and share[2] == 0.5 and np.isnan(share[[1, 3, 4]]).all()  # none labelled: missing
    # no folder, or no mart in it: the rows as they were
    assert add_graph_features(feats, None) is feats
    assert add_graph_features(feats, tmp_path / "nothing") is feats


# --------------------------------------------------------------------------- in score_origin
def _panel(n_items: int = 40, n_weeks: int = 50, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A weekly panel with surges, its labels, and a graph mart whose neighbour growth leads
    each item's surge by a few weeks (what a spread along co-bought items looks like)."""
    rng = np.random.default_rng(seed)
    rows, graph = [], []
    for i in range(n_items):
        item, onset, level = f"i{i:02d}", int(rng.integers(5, n_weeks)), float(rng.uniform(1, 4))
        for k in range(n_weeks):
            surge = 4.0 if onset <= k < onset + 6 else 0.0
            rows.append((item, _week(k), float(rng.poisson(level * (1 + surge)))))
            if k >= 3:
                lead = 3.0 if onset - 4 <= k < onset + 2 else 0.0
                graph.append((item, k, int(rng.integers(1, 6)), float(lead + rng.uniform(0, 1)),
                              float(rng.uniform()) if k >= 3 + H else None))
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    lab = top_growth_labels(frame, lookback=L)
    return frame, lab, _mart(graph)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    frame, labels, mart = _panel()
    return frame, labels, mart, marts_folder(tmp_path_factory, "item_graph_features", mart), _week(40)


def _score(frame, labels, folder, cutoff, settings=SETTINGS):
    return score_with_marts(frame, labels, folder, cutoff, settings)


def test_the_classifier_reads_graph_features_when_switched_on_and_the_mart_exists(shop, tmp_path):
    frame, labels, _, folder, c = shop
    s, clf = _score(frame, labels, folder, c)
    assert set(GRAPH_COLUMNS) <= set(clf.feature_names_)
    assert clf.feature_importance_[list(GRAPH_COLUMNS)].sum() > 0
    plain, plain_clf = _score(frame, labels, None, c)
    assert not set(GRAPH_COLUMNS) & set(plain_clf.feature_names_)
    missing, _ = _score(frame, labels, tmp_path, c)  # a folder without the mart
    pd.testing.assert_frame_equal(plain, missing)
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "graph_features": False})
    unused, _ = _score(frame, labels, folder, c, settings=off)
    pd.testing.assert_frame_equal(plain, unused)
    assert not np.allclose(s.loc[s["model"] == "classifier", "score"], plain.loc[plain["model"] == "classifier", "score"])
    # off by default
    assert hs.ClassifierSettings().graph_features is False


def test_graph_rows_after_the_origin_change_nothing_at_the_origin(shop, tmp_path):
    frame, labels, mart, _, c = shop
    folder = tmp_path / "poisoned"
    folder.mkdir()
    clean, _ = _score(frame, labels, shop[3], c)
    late = pd.to_datetime(mart["week_start"]) > c
    assert late.any()
    poisoned = mart.copy()
    poisoned.loc[late, ["degree", "neighbour_growth", "max_neighbour_growth", "surging_neighbours",
                        "surging_neighbour_share", "hot_neighbour_share"]] = [99, 1e6, 1e6, 99, 1.0, 1.0]
    poisoned.to_parquet(folder / "item_graph_features.parquet", index=False)
    again, _ = _score(frame, labels, folder, c)
    pd.testing.assert_frame_equal(clean, again)
    # the same poison at or before the origin does change the scores: the file is read
    early = mart.copy()
    for col in ("neighbour_growth", "surging_neighbours", "surging_neighbour_share"):
        early.loc[~late, col] = early.loc[~late, col].to_numpy()[::-1]
    early.to_parquet(folder / "item_graph_features.parquet", index=False)
    moved, _ = _score(frame, labels, folder, c)
    assert not clean["score"].equals(moved["score"])
    # `auto` validates on earlier weeks with the same rows: late poison changes nothing there either
    auto = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "graph_features": "auto"})
    poisoned.to_parquet(folder / "item_graph_features.parquet", index=False)
    clean_auto, clf = _score(frame, labels, shop[3], c, settings=auto)
    again_auto, again_clf = _score(frame, labels, folder, c, settings=auto)
    pd.testing.assert_frame_equal(clean_auto, again_auto)
    assert clf.selection_ == again_clf.selection_
    # the graph scorer reads the same rows: late poison changes none of its scores either
    scorer = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "graph_features": "scorer"})
    clean_scorer, _ = _score(frame, labels, shop[3], c, settings=scorer)
    assert "classifier_graph" in set(clean_scorer["model"])
    pd.testing.assert_frame_equal(clean_scorer, _score(frame, labels, folder, c, settings=scorer)[0])


# --------------------------------------------------------------------------- auto
AUTO = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "graph_features": "auto",
                                                 "n_estimators": 30})


def test_auto_keeps_graph_features_that_lead_and_drops_noise(shop, tmp_path):
    frame, labels, mart, folder, c = shop
    _, clf = _score(frame, labels, folder, c, settings=AUTO)
    picked = clf.selection_["graph_features"]
    assert picked["kept"] and len(picked["gains"]) == clf.settings.auto_folds
    assert picked["mean"] > picked["t"] * picked["se"] > 0
    assert set(GRAPH_COLUMNS) <= set(clf.feature_names_)
    # the same mart with every graph value shuffled across rows: no signal left, auto drops it
    rng = np.random.default_rng(1)
    noise = mart.copy()
    for col in ("degree", "neighbour_growth", "max_neighbour_growth", "surging_neighbours",
                "surging_neighbour_share", "hot_neighbour_share"):
        noise[col] = noise[col].to_numpy()[rng.permutation(len(noise))]
    noise.to_parquet(tmp_path / "item_graph_features.parquet", index=False)
    dropped, dclf = _score(frame, labels, tmp_path, c, settings=AUTO)
    assert not dclf.selection_["graph_features"]["kept"]
    assert not set(GRAPH_COLUMNS) & set(dclf.feature_names_)
    plain, _ = _score(frame, labels, None, c, settings=AUTO)  # dropped: the scores of a run without the mart
    pd.testing.assert_frame_equal(dropped, plain)


def test_auto_needs_when_each_label_was_known():
    feats = pd.DataFrame({"unique_id": ["a", "b"], "ds": [START, START], "graph_degree": [1.0, 2.0], "lag_1": [1.0, 0.0]})
    labels = pd.DataFrame({"unique_id": ["a", "b"], "ds": [START, START], "label": [1.0, 0.0]})
    with pytest.raises(ClassifierSelectionError, match="label_available_at"):
        hs.HotSellerClassifier(graph_features="auto").fit(feats, labels)
    hs.HotSellerClassifier(graph_features=True, n_estimators=2).fit(feats, labels)  # only auto reads it


def test_auto_folds_score_blocks_of_weeks_no_nearer_their_training_labels_than_the_origin(shop):
    frame, labels, _, folder, c = shop
    _, clf = _score(frame, labels, folder, c, settings=AUTO)
    picked, step = clf.selection_["graph_features"], clf.settings.auto_step
    known = labels[labels["label_available_at"] <= pd.Timestamp(c + pd.Timedelta(weeks=1), tz="UTC")]
    last = known["ds"].max()
    gap = c - last  # the origin's week is this far from the latest label it trains on
    for k, weeks in enumerate(picked["weeks"]):
        block = [last - pd.Timedelta(weeks=k * step + j) for j in range(step - 1, -1, -1)]
        assert [pd.Timestamp(w) for w in weeks] == block
        # the fold trains on the labels known at the close of the block's first week: the latest
        # of them is `gap` before that week, no nearer any scored week
        close = pd.Timestamp(block[0] + pd.Timedelta(weeks=1), tz="UTC")
        assert known.loc[known["label_available_at"] <= close, "ds"].max() == block[0] - gap
    flat = [w for weeks in picked["weeks"] for w in weeks]
    assert len(flat) == len(set(flat)) == clf.settings.auto_folds * step


def test_auto_keeps_a_group_only_when_its_gain_is_clearly_positive():
    assert keeps([0.02, 0.025, 0.018, 0.022], 0.05)[0]
    # mean above one standard error (the older rule kept these), but not above the t quantile
    gains = [0.03, 0.0, 0.012, 0.01]
    kept, mean, se, crit = keeps(gains, 0.05)
    assert mean > se and crit > 2 and not kept
    assert keeps(gains, 0.25)[0]  # a looser level keeps them
    # a large mean carried by half the folds: the t-test passes, the majority does not
    half = [0.1] * 6 + [-0.001] * 6
    _, mean, se, crit = keeps(half, 0.05)
    assert mean > crit * se and not keeps(half, 0.05)[0]
    assert not keeps([0.5], 0.05)[0] and not keeps([], 0.05)[0]


# --------------------------------------------------------------------------- scorer
SCORER = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "graph_features": "scorer",
                                                   "n_estimators": 30})


def test_the_graph_scorer_appears_only_where_graph_columns_exist_and_leaves_the_classifier_as_it_was(shop, tmp_path):
    frame, labels, _, folder, c = shop
    s, clf = _score(frame, labels, folder, c, settings=SCORER)
    assert {"classifier", "classifier_graph", "final"} <= set(s["model"])
    assert not set(GRAPH_COLUMNS) & set(clf.feature_names_)  # the returned classifier is the plain one
    off = dataclasses.replace(SCORER, classifier={**SCORER.classifier, "graph_features": False})
    plain, _ = _score(frame, labels, folder, c, settings=off)
    both = s.merge(plain, on=["unique_id", "cutoff", "model"], suffixes=("", "_plain"))
    # every score a run without graph features makes is unchanged (the final ranking here is the
    # classifier: no earlier origin is passed)
    np.testing.assert_array_equal(both["score"], both["score_plain"])
    graph, plain_clf = s[s["model"] == "classifier_graph"]["score"], s[s["model"] == "classifier"]["score"]
    assert not np.allclose(graph.to_numpy(), plain_clf.to_numpy())
    # no mart: no graph scorer, the scores of a run with the graph features off
    missing, _ = _score(frame, labels, tmp_path, c, settings=SCORER)
    assert "classifier_graph" not in set(missing["model"])
    pd.testing.assert_frame_equal(missing, plain)


def _rolling(frame, labels, folder, cutoffs, settings):
    """score_origin at each cutoff in turn, passed the scores of the earlier ones (the backtest's way)."""
    settings = dataclasses.replace(settings, min_labelled_origins=2)
    scores = []
    for c in cutoffs:
        scores.append(score_with_marts(frame, labels, folder, c, settings, earlier_scores=list(scores))[0])
    return scores


def test_the_final_ranking_takes_the_graph_scorer_where_the_graph_leads(shop):
    frame, labels, _, folder, _ = shop
    cutoffs = [_week(k) for k in range(24, 42, 2)]
    scores = _rolling(frame, labels, folder, cutoffs, SCORER)
    choice = scores[-1].attrs["choice"]
    assert choice["method"] != "fallback" and choice["weights"].get("classifier_graph", 0) > 0
    assert choice["ap"]["classifier_graph"] > choice["ap"]["classifier"]
    # the same origins without the graph mart: no graph scorer anywhere, the classifier's ranking
    plain = _rolling(frame, labels, None, cutoffs, SCORER)
    assert all("classifier_graph" not in set(s["model"]) for s in plain)
    assert "classifier_graph" not in plain[-1].attrs["choice"]["ap"]


def _scored(gain_at: list[bool], n_items: int = 200, variant: str = "classifier_graph") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores at one origin per entry: the classifier ranks half the positives first; the
    `variant` (the graph classifier) is the same ranking, or ranks every positive first where
    `gain_at` says so."""
    rng = np.random.default_rng(0)
    scores, labels = [], []
    for k, gain in enumerate(gain_at):
        ds, ids = _week(k), [f"i{i:03d}" for i in range(n_items)]
        y = (rng.uniform(size=n_items) < 0.1).astype(float)
        y[0] = 1.0
        clf = rng.uniform(size=n_items) + np.where(y == 1, np.arange(n_items) % 2, 0.0)
        graph = clf + 2 * y if gain else clf
        for model, v in (("classifier", clf), (variant, graph), ("forecast_growth", rng.uniform(size=n_items))):
            scores.append(pd.DataFrame({"unique_id": ids, "cutoff": ds, "model": model, "score": v}))
        labels.append(pd.DataFrame({"unique_id": ids, "ds": ds, "label": y}))
    return pd.concat(scores, ignore_index=True), pd.concat(labels, ignore_index=True)


def test_the_combination_weighs_the_graph_scorer_against_the_classifier_by_labelled_origins():
    names = ["forecast_growth", "classifier_graph", "classifier"]
    # the same ranking at every origin: a tie, which goes to the classifier
    earlier, known = _scored([False] * 4)
    choice = choose(names, earlier, known, min_origins=2, weight_step=0.5, fallback="classifier")
    assert choice.ap["classifier_graph"] == choice.ap["classifier"] and choice.weights == {"classifier": 1.0}
    # better at every origin: the final ranking
    earlier, known = _scored([True] * 4)
    choice = choose(names, earlier, known, min_origins=2, weight_step=0.5, fallback="classifier")
    assert choice.weights == {"classifier_graph": 1.0}
    assert choice.ap["classifier_graph"] == pytest.approx(_ap_of(earlier, known, "classifier_graph"))
    assert choice.ap["classifier_graph"] > choice.ap["classifier"]
    # better only at origins whose labels are not known yet: not taken
    earlier, known = _scored([False, False, True, True])
    choice = choose(names, earlier, known[known["ds"] <= _week(1)], min_origins=2, weight_step=0.5,
                    fallback="classifier")
    assert choice.origins == [str(_week(0).date()), str(_week(1).date())] and choice.weights == {"classifier": 1.0}
    assert choose(names, earlier, known, min_origins=2, weight_step=0.5).weights == {"classifier_graph": 1.0}


def _ap_of(earlier: pd.DataFrame, known: pd.DataFrame, model: str) -> float:
    both = earlier[earlier["model"] == model].merge(known.rename(columns={"ds": "cutoff"}), on=["unique_id", "cutoff"])
    return float(np.mean([average_precision(g["score"].to_numpy(), g["label"].to_numpy())
                          for _, g in both.groupby("cutoff")]))


def test_a_text_variant_competes_only_with_a_gain_above_its_margin():
    v = "classifier_text_score"
    names = ["forecast_growth", v, "classifier"]
    # the same ranking at every origin: no gain, so it does not compete
    earlier, known = _scored([False] * 4, variant=v)
    choice = choose(names, earlier, known, min_origins=2, weight_step=0.5, fallback="classifier")
    assert choice.ap[f"gain_{v}"] == 0 and choice.weights == {"classifier": 1.0} and v not in choice.ap
    # better at half the known origins: a mean gain within two standard errors, the classifier stays
    earlier, known = _scored([False, False, True, True], variant=v)
    choice = choose(names, earlier, known, min_origins=2, weight_step=0.5, fallback="classifier")
    gain, se = choice.ap[f"gain_{v}"], choice.ap[f"gain_se_{v}"]
    assert 0 < gain < VARIANT_MARGIN_SE[v] * se and choice.weights == {"classifier": 1.0}
    # the graph variant has no margin: the same scores make it the final ranking
    earlier_g, known_g = _scored([False, False, True, True])
    assert choose(["forecast_growth", "classifier_graph", "classifier"], earlier_g, known_g, min_origins=2,
                  weight_step=0.5).weights == {"classifier_graph": 1.0}
    # better at every known origin: it competes, and wins
    earlier, known = _scored([True] * 3 + [False], variant=v)
    assert choose(names, earlier, known[known["ds"] <= _week(2)], min_origins=2, weight_step=0.5).weights == {v: 1.0}
