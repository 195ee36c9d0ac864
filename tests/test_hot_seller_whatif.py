"""The hot-seller scores computed again under another plan (`training.hot_sellers.whatif`): from
the release's own forecasts they are the released scores to the last bit, and under a plan that
moves some items' forecasts they are what scoring the origin again with those forecasts gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.config import ModelSpec
from training import hot_sellers as hs

from .test_hot_sellers import SETTINGS, H, _labels, _panel

QS = [0.1, 0.5, 0.9]
MEMBERS = {"naive": 1.0, "seasonal_naive": 1.6, "median": 0.8}  # each member's bias on the realized values
SPECS = [ModelSpec(model="naive"), ModelSpec(model="seasonal_naive"),
         ModelSpec(model="xgboost", alias="median", growth=False)]
# a classifier large enough to read the forecast features (the earlier origins' growth)
CLASSIFIER = dataclasses.replace(SETTINGS, classifier={**SETTINGS.classifier, "n_estimators": 60, "max_depth": 4})
PARAMS = {"grid_step": 0.25, "min_points": 2, "shrinkage": "auto", "objective": "mae", "horizon_buckets": [4, 8]}


def _members(frame: pd.DataFrame, cutoff: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Three members' noisy forecasts of the H weeks after `cutoff`, each with 10/50/90% levels,
    and the blend of them (the realized `y` kept for validation)."""
    rng = np.random.default_rng(seed)
    fut = frame[(frame["ds"] > cutoff) & (frame["ds"] <= cutoff + pd.Timedelta(weeks=H))].copy()
    for name, bias in MEMBERS.items():
        p = bias * fut["y"].to_numpy() * rng.uniform(0.7, 1.3, len(fut))
        fut[name], fut[f"{name}-q10"], fut[f"{name}-q50"], fut[f"{name}-q90"] = p, 0.6 * p, p, 1.5 * p
    mean = fut[list(MEMBERS)].mean(axis=1)
    fut["blend"], fut["blend-q10"], fut["blend-q50"], fut["blend-q90"] = mean, 0.6 * mean, mean, 1.6 * mean
    return fut.reset_index(drop=True)


@pytest.fixture(scope="module")
def origin():
    """A backtest's three earlier origins, then the last one scored as a release scores it."""
    frame = _panel(n_items=40, n_weeks=70)
    labels = _labels(frame)
    last = frame["ds"].max() - pd.Timedelta(weeks=H)
    cutoffs = [last - pd.Timedelta(weeks=4 * k) for k in (3, 2, 1)]
    earlier, scores = [], []
    for k, c in enumerate(cutoffs):
        fc = _members(frame, c, seed=k).assign(cutoff=c)
        validation = pd.concat(earlier, ignore_index=True) if earlier else fc.iloc[:0]
        validation = validation[validation["ds"] <= c]
        gw = hs.growth_weights(validation, SPECS, PARAMS)
        fc = hs.with_growth_blend(fc, validation, SPECS, QS, PARAMS, learned=gw)
        train = frame[frame["ds"] <= c].reset_index(drop=True)
        s, _ = hs.score_origin(train, fc.drop(columns="y"), labels, cutoff=c, covariates=[], settings=CLASSIFIER,
                               earlier_forecasts=[e.drop(columns="y") for e in earlier], earlier_scores=scores)
        earlier.append(fc)
        scores.append(s)
    validation = pd.concat(earlier, ignore_index=True)
    validation = validation[validation["ds"] <= last]
    gw = hs.growth_weights(validation, SPECS, PARAMS)
    members = _members(frame, last, seed=9).drop(columns="y")
    train = frame[frame["ds"] <= last].reset_index(drop=True)

    def score(fc: pd.DataFrame):
        grown = hs.with_growth_blend(fc.assign(cutoff=last), validation, SPECS, QS, PARAMS, learned=gw)
        return hs.origin_scores(train, grown.drop(columns="cutoff"), labels, cutoff=last, covariates=[],
                                settings=CLASSIFIER, earlier_forecasts=[e.drop(columns="y") for e in earlier],
                                earlier_scores=scores, growth=gw, quantiles=QS)

    return members, score


def _table(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.pivot(index="unique_id", columns="model", values="score").rename_axis(columns=None)


def test_the_release_own_forecasts_give_the_released_scores_to_the_last_bit(origin):
    members, score = origin
    released, whatif = score(members)
    table = _table(released)
    assert whatif.growth is not None and whatif.column == "growth_blend" and set(whatif.scorers) == {"classifier"}
    assert {"classifier", "forecast_growth", "final"} <= set(table.columns)
    again = whatif.rescore(members, table)
    pd.testing.assert_frame_equal(again, table, check_exact=True)


def test_a_plan_moves_the_items_it_names_as_scoring_the_origin_again_would(origin):
    members, score = origin
    released, whatif = score(members)
    table = _table(released)
    # a promotion triples two items' forecasts in every member
    moved = ["i03", "i17"]
    planned = members.copy()
    at = planned["unique_id"].isin(moved)
    cols = [c for c in planned.columns if c not in ("unique_id", "ds")]
    planned.loc[at, cols] = planned.loc[at, cols] * 3.0
    got = whatif.rescore(planned[at].reset_index(drop=True), table)
    want = _table(score(planned)[0])
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)
    # the moved items' growth rose threefold; the other items' own scores stay as released
    np.testing.assert_allclose(got.loc[moved, "forecast_growth"], 3 * table.loc[moved, "forecast_growth"], rtol=1e-9)
    still = got.index.difference(moved)
    pd.testing.assert_frame_equal(got.loc[still].drop(columns="final"), table.loc[still].drop(columns="final"))
    assert (got.loc[moved, "classifier"] != table.loc[moved, "classifier"]).all()  # it reads the forecasts
    assert (got.loc[moved, "final"] >= table.loc[moved, "final"]).all()
    assert (got.loc[moved, "final"] > table.loc[moved, "final"]).any()
