"""The supervised text score of the hot-seller classifier: a logistic regression on the item's
TF-IDF text, fitted at time-ordered checkpoints on the labels known there; computed from running
sums, blind to labels known after a row's checkpoint and to text after the origin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.hot_seller_marts import buzz_panel, marts_folder, score_with_marts, week
from training import hot_sellers as hs
from training.hot_sellers import text_score as ts
from training.hot_sellers.text_features import load
from training.metrics import average_precision

H = 3
SETTINGS = hs.Settings(lookback=4, horizon=H, floor=1.0,
                       classifier={"n_estimators": 30, "max_depth": 2, "n_jobs": 1, "text_score": True,
                                   "text_recent_weeks": 3})
SMALL = ts.TextScoreSettings(recent_weeks=3, checkpoint_step=4, max_checkpoints=4, min_positives=3)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    frame, labels, mart = buzz_panel(n_items=60, n_weeks=60)
    return frame, labels, mart, marts_folder(tmp_path_factory, "item_week_texts", mart), week(45)


def _feats(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[frame["ds"] <= cutoff][["unique_id", "ds"]].reset_index(drop=True)


def test_the_score_is_the_fitted_log_odds_of_the_mean_text_of_both_windows(shop):
    frame, labels, _, folder, c = shop
    known = hs.known_labels(labels, c)
    got = ts.add_text_score(_feats(frame, c), folder, known, cutoff=c, settings=SMALL)
    texts = load(folder)
    corpus = ts._Corpus(texts[texts["ds"] <= c].reset_index(drop=True))
    # the origin's rows read the checkpoint at the origin: the weights fitted on every known label
    w = ts._fit(corpus, known, SMALL)
    rows = got[got["ds"] == c].head(12)
    v = corpus.x.shape[1]
    for _, r in rows.iterrows():
        own = texts[(texts["unique_id"] == r["unique_id"]) & (texts["ds"] <= c)]
        if not len(own):
            assert np.isnan(r[ts.COLUMN])
            continue
        recent = own[own["ds"] > c - pd.Timedelta(weeks=3)]
        x_known = np.asarray(corpus.tfidf.transform(own["text"].tolist()).mean(axis=0)).ravel()
        x_recent = (np.asarray(corpus.tfidf.transform(recent["text"].tolist()).mean(axis=0)).ravel()
                    if len(recent) else np.zeros(v))
        want = x_known @ w[:v] + x_recent @ w[v:2 * v] + w[-1]
        assert r[ts.COLUMN] == pytest.approx(want, abs=1e-5)
    assert got.loc[got["ds"] == c, ts.COLUMN].notna().mean() > 0.9


def test_a_rows_score_is_blind_to_labels_known_after_its_week(shop):
    frame, labels, _, folder, c = shop
    known = hs.known_labels(labels, c)
    feats = _feats(frame, c)
    clean = ts.add_text_score(feats, folder, known, cutoff=c, settings=SMALL)
    t = week(35)  # a training row's week: its checkpoint fitted on the labels known by then
    flipped = known.copy()
    late = pd.to_datetime(flipped["label_available_at"], utc=True) > pd.Timestamp(t + pd.Timedelta(weeks=1), tz="UTC")
    assert late.any()
    flipped.loc[late, "label"] = 1.0 - flipped.loc[late, "label"]
    again = ts.add_text_score(feats, folder, flipped, cutoff=c, settings=SMALL)
    upto = (feats["ds"] <= t).to_numpy()
    np.testing.assert_array_equal(clean.loc[upto, ts.COLUMN], again.loc[upto, ts.COLUMN])
    # later rows read later checkpoints, which the flipped labels do reach
    assert not np.allclose(clean.loc[~upto, ts.COLUMN].fillna(0), again.loc[~upto, ts.COLUMN].fillna(0))
    # rows before the earliest checkpoint have no score
    assert clean.loc[(feats["ds"] < week(20)).to_numpy(), ts.COLUMN].isna().all()


def test_text_after_the_origin_changes_nothing_at_the_origin(shop, tmp_path):
    frame, labels, mart, folder, c = shop
    late = pd.to_datetime(mart["week_start"]) > c
    poisoned = mart.copy()
    poisoned.loc[late, "text"] = "sold out everywhere huge queue trending viral everyone is talking about it"
    pd.concat([poisoned, poisoned[late].assign(item_id="new_item")]).to_parquet(
        tmp_path / "item_week_texts.parquet", index=False)
    clean, clf = score_with_marts(frame, labels, folder, c, SETTINGS)
    again, again_clf = score_with_marts(frame, labels, tmp_path, c, SETTINGS)
    assert ts.COLUMN in clf.feature_names_
    pd.testing.assert_frame_equal(clean, again)
    pd.testing.assert_series_equal(clf.feature_importance_, again_clf.feature_importance_)


def test_nothing_is_added_without_text_or_labels(shop, tmp_path):
    frame, labels, _, folder, c = shop
    feats = _feats(frame, c)
    known = hs.known_labels(labels, c)
    assert ts.add_text_score(feats, None, known, cutoff=c) is feats
    assert ts.add_text_score(feats, tmp_path, known, cutoff=c) is feats  # no mart in the folder
    assert ts.add_text_score(feats, folder, known.iloc[:0], cutoff=c) is feats
    assert ts.add_text_score(feats, folder, known[known["label"] == 0], cutoff=c) is feats  # no positive to fit
    assert hs.ClassifierSettings().text_score == "scorer"


def test_the_score_carries_the_buzz_that_precedes_a_surge(shop):
    """On a panel whose text turns to buzz before each surge, the classifier ranks the origin's
    hot sellers better with the score than without, over rolling origins."""
    frame, labels, _, folder, _ = shop
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_score": False})
    gains = []
    for k in (44, 47, 50, 53):
        aps = []
        for settings in (SETTINGS, off):
            s, _ = score_with_marts(frame, labels, folder, week(k), settings)
            got = s[s["model"] == "classifier"].set_index("unique_id")["score"]
            lab = labels[labels["ds"] == week(k)].set_index("unique_id")["label"]
            both = pd.concat([got, lab], axis=1, join="inner")
            aps.append(average_precision(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()))
        gains.append(aps[0] - aps[1])
    assert np.mean(gains) > 0.15 and min(gains) > 0


def test_as_a_scorer_the_classifier_stays_as_it_was_and_a_second_one_reads_the_score(shop, tmp_path):
    frame, labels, _, folder, c = shop
    scorer = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_score": "scorer"})
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_score": False})
    s, clf = score_with_marts(frame, labels, folder, c, scorer)
    plain, _ = score_with_marts(frame, labels, folder, c, off)
    assert {"classifier", "classifier_text_score", "final"} <= set(s["model"])
    assert ts.COLUMN not in clf.feature_names_
    pd.testing.assert_series_equal(s.loc[s["model"] == "classifier", "score"].reset_index(drop=True),
                                   plain.loc[plain["model"] == "classifier", "score"].reset_index(drop=True))
    with_score = s.loc[s["model"] == "classifier_text_score", "score"].to_numpy()
    assert not np.allclose(with_score, s.loc[s["model"] == "classifier", "score"].to_numpy())
    without_mart, _ = score_with_marts(frame, labels, tmp_path, c, scorer)  # no text: no second scorer
    assert "classifier_text_score" not in set(without_mart["model"])


def test_by_default_the_score_is_a_scorer_of_its_own(shop):
    frame, labels, _, folder, c = shop
    default = dataclasses.replace(SETTINGS, classifier={k: v for k, v in SETTINGS.classifier.items() if k != "text_score"})
    s, clf = score_with_marts(frame, labels, folder, c, default)
    assert "classifier_text_score" in set(s["model"]) and ts.COLUMN not in clf.feature_names_


def test_under_a_plan_the_text_scorer_is_scored_again_as_the_origin_would_score_it(shop):
    """A release's what-if state (`origin_scores`) keeps the second classifier too: the planned
    items' `classifier_text_score` equals scoring the origin again with their planned forecasts."""
    frame, labels, _, folder, c = shop
    scorer = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_score": "scorer"},
                                 marts_dir=str(folder))
    train = frame[frame["ds"] <= c].reset_index(drop=True)
    fut = frame[(frame["ds"] > c) & (frame["ds"] <= c + pd.Timedelta(weeks=H))].drop(columns="y")
    fc = fut.assign(blend=2.0).reset_index(drop=True)

    def score(forecast):
        out, whatif = hs.origin_scores(train, forecast, labels, cutoff=c, covariates=[], settings=scorer)
        return out.pivot(index="unique_id", columns="model", values="score").rename_axis(columns=None), whatif

    released, whatif = score(fc)
    assert set(whatif.scorers) == {"classifier", "classifier_text_score"}
    pd.testing.assert_frame_equal(whatif.rescore(fc, released), released, check_exact=True)
    moved = fc["unique_id"].isin(sorted(fc["unique_id"].unique())[:5])
    planned = fc.assign(blend=np.where(moved, 9.0, fc["blend"]))
    pd.testing.assert_frame_equal(whatif.rescore(planned[moved].reset_index(drop=True), released),
                                  score(planned)[0], check_exact=False, rtol=1e-12, atol=0)
