"""Text features of the hot-seller classifier: TF-IDF + SVD components of the item's text known by
each week, joined only where the item_week_texts mart exists, the representation fitted on the
text known at the origin, and text of weeks after an origin never reaching that origin's scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.hot_seller_marts import START, marts_folder, score_with_marts
from tests.hot_seller_marts import buzz_panel as _panel
from tests.hot_seller_marts import week as _week
from training import hot_sellers as hs
from training.hot_sellers.text_features import TextFeaturesError, add_text_features, text_columns
from training.multitask.text import CorpusText

L, H, DIM = 4, 3, 4
SETTINGS = hs.Settings(lookback=L, horizon=H, floor=1.0,
                       classifier={"n_estimators": 30, "max_depth": 2, "n_jobs": 1, "text_features": True, "text_score": False,
                                   "text_dim": DIM, "text_recent_weeks": 3})


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    frame, labels, mart = _panel()
    return frame, labels, mart, marts_folder(tmp_path_factory, "item_week_texts", mart), _week(40)


def _score(frame, labels, folder, cutoff, settings=SETTINGS):
    return score_with_marts(frame, labels, folder, cutoff, settings)


def test_text_columns_are_the_directions_of_the_recent_and_known_text_fitted_at_the_origin(shop):
    _, _, mart, folder, c = shop
    feats = pd.DataFrame({"unique_id": ["i01", "i01", "i02", "zz"], "ds": [_week(10), _week(30), _week(30), _week(30)],
                          "lag_1": [1.0, 2.0, 3.0, 4.0]}, index=[7, 8, 9, 10])
    got = add_text_features(feats, folder, cutoff=c, dim=DIM, recent_weeks=3)
    assert list(got.index) == [7, 8, 9, 10]
    assert list(got.columns) == ["unique_id", "ds", "lag_1", *text_columns(DIM)]
    # the same numbers from CorpusText fitted on the rows of weeks at or before the origin only
    m = mart.assign(ds=pd.to_datetime(mart["week_start"]))
    known = m[m["ds"] <= c]
    enc = CorpusText(dim=DIM).fit(known["text"].tolist())
    for row in (0, 1, 2):
        item, week = feats["unique_id"].iloc[row], feats["ds"].iloc[row]
        own = known[(known["item_id"] == item) & (known["ds"] <= week)]
        recent = own[own["ds"] > week - pd.Timedelta(weeks=3)]
        for name, part in (("recent", recent), ("known", own)):
            v = enc.transform(part["text"].tolist()).astype("float64").sum(axis=0)
            want = v / np.linalg.norm(v)
            np.testing.assert_allclose(got[[f"text_{name}_{k}" for k in range(DIM)]].iloc[row], want, atol=1e-6)
    assert got.loc[10, text_columns(DIM)].isna().all()  # no text at all: missing


def test_no_text_without_the_mart_or_before_any_text_and_a_wrong_mart_is_named(shop, tmp_path):
    *_, folder, c = shop
    feats = pd.DataFrame({"unique_id": ["i01"], "ds": [_week(3)], "lag_1": [1.0]})
    assert add_text_features(feats, None, cutoff=c, dim=DIM, recent_weeks=3) is feats
    assert add_text_features(feats, tmp_path, cutoff=c, dim=DIM, recent_weeks=3) is feats
    assert add_text_features(feats, folder, cutoff=START - pd.Timedelta(weeks=1), dim=DIM, recent_weeks=3) is feats
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"item_id": ["a"], "week_start": [START.date()]}).to_parquet(bad / "item_week_texts.parquet")
    with pytest.raises(TextFeaturesError, match=r"item_week_texts\.parquet: missing column\(s\) \['text'\]"):
        add_text_features(feats, bad, cutoff=c, dim=DIM, recent_weeks=3)


def test_the_classifier_reads_text_features_only_when_switched_on_and_the_mart_exists(shop, tmp_path):
    frame, labels, _, folder, c = shop
    s, clf = _score(frame, labels, folder, c)
    assert set(text_columns(DIM)) <= set(clf.feature_names_)
    assert clf.feature_importance_[text_columns(DIM)].sum() > 0
    plain, plain_clf = _score(frame, labels, None, c)
    assert not any(f.startswith("text_") for f in plain_clf.feature_names_)
    missing, _ = _score(frame, labels, tmp_path, c)  # a folder without the mart
    pd.testing.assert_frame_equal(plain, missing)
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_features": False})
    pd.testing.assert_frame_equal(plain, _score(frame, labels, folder, c, settings=off)[0])
    assert not np.allclose(s.loc[s["model"] == "classifier", "score"], plain.loc[plain["model"] == "classifier", "score"])
    assert hs.ClassifierSettings().text_features is False  # off by default


def test_text_after_the_origin_changes_nothing_at_the_origin(shop, tmp_path):
    frame, labels, mart, folder, c = shop
    late = pd.to_datetime(mart["week_start"]) > c
    assert late.any()
    poisoned = mart.copy()
    # later text with words never seen before and the buzz everywhere: a representation fitted on
    # it would have other components, and rows reading it would move
    poisoned.loc[late, "text"] = "sold out everywhere huge queue trending viral everyone is talking about it"
    extra = poisoned[late].assign(item_id="new_item")
    pd.concat([poisoned, extra]).to_parquet(tmp_path / "item_week_texts.parquet", index=False)
    for mode in (True, "scorer"):
        settings = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_features": mode})
        clean, clf = _score(frame, labels, folder, c, settings=settings)
        again, again_clf = _score(frame, labels, tmp_path, c, settings=settings)
        pd.testing.assert_frame_equal(clean, again)
        pd.testing.assert_series_equal(clf.feature_importance_, again_clf.feature_importance_)
    # the same change at or before the origin does change the scores: the file is read
    early = mart.copy()
    early.loc[~late, "text"] = early.loc[~late, "text"].to_numpy()[::-1]
    early.to_parquet(tmp_path / "item_week_texts.parquet", index=False)
    moved, _ = _score(frame, labels, tmp_path, c)
    assert not clean["score"].equals(moved["score"])


def test_the_text_scorer_appears_only_where_text_exists_and_leaves_the_classifier_as_it_was(shop, tmp_path):
    frame, labels, _, folder, c = shop
    scorer = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_features": "scorer"})
    s, clf = _score(frame, labels, folder, c, settings=scorer)
    assert {"classifier", "classifier_text", "final"} <= set(s["model"])
    assert not any(f.startswith("text_") for f in clf.feature_names_)  # the returned classifier is the plain one
    off = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "text_features": False})
    plain, _ = _score(frame, labels, folder, c, settings=off)
    both = s.merge(plain, on=["unique_id", "cutoff", "model"], suffixes=("", "_plain"))
    np.testing.assert_array_equal(both["score"], both["score_plain"])
    on, _ = _score(frame, labels, folder, c)  # text_features: true scores what classifier_text scores
    np.testing.assert_array_equal(s.loc[s["model"] == "classifier_text", "score"],
                                  on.loc[on["model"] == "classifier", "score"])
    missing, _ = _score(frame, labels, tmp_path, c, settings=scorer)
    assert "classifier_text" not in set(missing["model"])
    pd.testing.assert_frame_equal(missing, plain)
