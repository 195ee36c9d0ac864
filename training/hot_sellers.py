"""Hot-seller scores at a forecast origin, and the ranking that combines them.

* `momentum`: the heuristic a user would try first: mean units of the last 4 weeks over the
  mean of the 12 weeks before (floored), no model.
* `forecast_growth`: the label's own growth formula applied to a forecast (`forecast_model`,
  XGBoost by default, the blend when that model is not enabled): mean forecast over the horizon
  / max(mean units over the lookback window, growth floor).
* `classifier`: XGBoost on the item's past features (lags, rolling windows, Feast activity
  covariates) at the origin, trained only on earlier origins whose label was already known at
  this origin (`label_available_at <= cutoff`); imbalance handled by `scale_pos_weight`.
* `transformer` (when enabled): a transformer encoder over the item's recent weeks
  (`training.hot_seller_transformer`), trained on the same known labels.
* `final`: weighted mean of the within-origin percentile ranks of forecast growth, the classifier
  (`classifier_weight`) and the transformer (`transformer_weight`, when enabled).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK
from training.device import xgboost_device
from training.lags import past_features, tail_stat
from training.models.base import ModelSettings

log = logging.getLogger(__name__)

SCORES = ("momentum", "forecast_growth", "classifier", "transformer", "final")


class ClassifierSettings(ModelSettings):
    n_estimators: int = Field(200, ge=1)
    max_depth: int = Field(4, ge=1, le=16)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(2.0, ge=0)
    n_lags: int = Field(8, ge=1, le=52)
    max_train_rows: int = Field(400_000, ge=100)
    n_jobs: int = Field(0, ge=0)
    device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    seed: int = 0


def momentum(train: pd.DataFrame, *, recent: int = 4, before: int = 12, floor: float = 1.0) -> pd.Series:
    last = tail_stat(train, recent)
    prev = tail_stat(train, before, skip=recent)
    return (last / np.maximum(prev.fillna(0.0), floor)).rename("score")


def forecast_growth(
    train: pd.DataFrame, forecast: pd.DataFrame, column: str, *, lookback: int, floor: float
) -> pd.Series:
    past = tail_stat(train, lookback, how="sum") / lookback
    future = forecast.groupby(ID, sort=True)[column].mean()
    return (future / np.maximum(past.reindex(future.index).fillna(0.0), floor)).rename("score")


class HotSellerClassifier:
    """XGBoost classifier on past features; `fit` takes only labels known at the cutoff."""

    def __init__(self, **params: Any) -> None:
        self.settings = ClassifierSettings(**params)

    def _features(self, frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
        return past_features(frame, n_lags=self.settings.n_lags, covariates=covariates)

    def fit(self, frame: pd.DataFrame, labels: pd.DataFrame, *, covariates: list[str]) -> HotSellerClassifier:
        """`frame`: history up to the cutoff; `labels`: `unique_id, ds, label` already known."""
        import xgboost as xgb

        s = self.settings
        feats = self._features(frame, covariates)
        keyed = pd.concat([frame[[ID, DS]], feats], axis=1).merge(labels[[ID, DS, "label"]], on=[ID, DS])
        if len(keyed) > s.max_train_rows:
            keyed = keyed.sample(s.max_train_rows, random_state=s.seed)
        y = keyed["label"].to_numpy(dtype="float64")
        self.feature_names_ = list(feats.columns)
        pos = y.sum()
        self.n_train_, self.n_pos_ = len(y), int(pos)
        if pos == 0 or pos == len(y):
            self.model_ = None
            self.constant_ = float(pos / max(len(y), 1))
            return self
        self.model_ = xgb.XGBClassifier(
            n_estimators=s.n_estimators, max_depth=s.max_depth, learning_rate=s.learning_rate,
            subsample=s.subsample, colsample_bytree=s.colsample_bytree,
            min_child_weight=s.min_child_weight, objective="binary:logistic",
            scale_pos_weight=float((len(y) - pos) / pos), tree_method="hist",
            device=xgboost_device(s.device), n_jobs=s.n_jobs or (os.cpu_count() or 1),
            random_state=s.seed, verbosity=0,
        ).fit(keyed[self.feature_names_], y)
        # scale_pos_weight inflates probabilities; map them back to the base rate (prior shift)
        self.prior_, self.weight_ = float(pos / len(y)), float((len(y) - pos) / pos)
        gain = self.model_.get_booster().get_score(importance_type="gain")
        self.feature_importance_ = pd.Series({f: float(gain.get(f, 0.0)) for f in self.feature_names_})
        return self

    def predict_proba(self, frame: pd.DataFrame, *, covariates: list[str]) -> pd.Series:
        """Probability per item at its last week in `frame`."""
        last = frame.groupby(ID, sort=True).tail(1).index
        if self.model_ is None:
            return pd.Series(self.constant_, index=frame.loc[last, ID].to_numpy(), name="score")
        feats = self._features(frame, covariates).loc[last, self.feature_names_]
        p = self.model_.predict_proba(feats)[:, 1]
        odds = p / np.clip(1 - p, 1e-12, None) / self.weight_
        return pd.Series(odds / (1 + odds), index=frame.loc[last, ID].to_numpy(), name="score")


def pct_rank(s: pd.Series) -> pd.Series:
    return s.rank(pct=True, method="average")


def score_origin(
    train: pd.DataFrame,
    forecast: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    cutoff: pd.Timestamp,
    covariates: list[str],
    forecast_column: str,
    lookback: int,
    floor: float,
    classifier_params: dict[str, Any],
    classifier_weight: float,
    transformer_params: dict[str, Any] | None = None,
    transformer_weight: float = 0.0,
) -> tuple[pd.DataFrame, HotSellerClassifier | None]:
    """Every score for the items of `train` at `cutoff` (`unique_id, cutoff, model, score`).

    `transformer_params` not None adds the transformer classifier's score (`model="transformer"`),
    with `transformer_weight` in the final ranking."""
    if forecast_column not in forecast.columns:
        log.warning("hot sellers: no %r forecast (model not enabled); the growth score reads the blend", forecast_column)
        forecast_column = "blend"
    close = pd.Timestamp(cutoff + WEEK, tz="UTC")
    known = labels[(labels["label_available_at"] <= close) & (labels[DS] <= cutoff)]
    scores = {
        "momentum": momentum(train, floor=floor),
        "forecast_growth": forecast_growth(train, forecast, forecast_column, lookback=lookback, floor=floor),
    }
    clf = None
    if len(known) and known["label"].sum() > 0:
        clf = HotSellerClassifier(**classifier_params).fit(train, known, covariates=covariates)
        scores["classifier"] = clf.predict_proba(train, covariates=covariates)
        w = classifier_weight
        if transformer_params is not None:
            from training.hot_seller_transformer import TransformerHotSellerClassifier

            trf = TransformerHotSellerClassifier(**transformer_params).fit(train, known, covariates=covariates)
            scores["transformer"] = trf.predict_proba(train, covariates=covariates)
    else:
        log.warning("hot sellers at %s: no label known yet; the ranking uses the forecast only", cutoff.date())
        w = 0.0
    wt = transformer_weight if "transformer" in scores else 0.0
    final = (1 - w - wt) * pct_rank(scores["forecast_growth"])
    if "classifier" in scores:
        final = final + w * pct_rank(scores["classifier"].reindex(final.index))
    if wt > 0:
        final = final + wt * pct_rank(scores["transformer"].reindex(final.index))
    scores["final"] = final
    rows = []
    for name, s in scores.items():
        rows.append(pd.DataFrame({ID: s.index.astype(str), CUTOFF: cutoff, "model": name, "score": s.to_numpy(dtype="float64")}))
    return pd.concat(rows, ignore_index=True), clf
