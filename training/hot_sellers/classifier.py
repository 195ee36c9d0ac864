"""The hot-seller classifier: XGBoost on one feature row per (item, week), trained only on labels
already known at the origin (`label_available_at <= close of the cutoff`); imbalance handled by
`scale_pos_weight`, probabilities mapped back to the base rate.

Rows without a value for a feature (forecast-derived features exist only at the origins where
forecasts were made) are left missing: XGBoost learns a default direction for them."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.schema import DS, ID
from training.device import xgboost_device
from training.models.base import ModelSettings


class ClassifierSettings(ModelSettings):
    n_estimators: int = Field(200, ge=1)
    max_depth: int = Field(4, ge=1, le=16)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(2.0, ge=0)
    n_lags: int = Field(8, ge=1, le=52)
    max_train_rows: int = Field(400_000, ge=100)
    n_jobs: int = Field(
        1, ge=0, description="XGBoost threads (0: all cores). One: two OpenMP threads on two busy cores "
        "spin and cost many times the CPU of one.",
    )
    device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    customer_signals: bool = Field(
        True, description="Join the customer signals (features.customer_signals: buyers, their growth, new-customer "
        "share, repeat rate) where the marts hold customer purchase lines; absent otherwise.",
    )
    graph_features: bool = Field(
        False, description="Join the product-graph features (graph_features: degree, neighbours' growth, share of "
        "hot neighbours) where the marts hold item_graph_features; absent otherwise.",
    )
    seed: int = 0


class HotSellerClassifier:
    """`fit` on labelled feature rows; `predict_proba` on the rows of the origin."""

    def __init__(self, **params) -> None:
        self.settings = ClassifierSettings(**params)

    def fit(self, features: pd.DataFrame, labels: pd.DataFrame, *, keep: pd.Series | None = None) -> HotSellerClassifier:
        """`features`: `unique_id, ds` + feature columns; `labels`: `unique_id, ds, label`, only
        labels already known. Rows flagged by `keep` (aligned with `features`) survive the
        subsample to `max_train_rows`."""
        import xgboost as xgb

        s = self.settings
        self.feature_names_ = [c for c in features.columns if c not in (ID, DS)]
        frame = features.assign(_keep=False if keep is None else keep.to_numpy())
        keyed = frame.merge(labels[[ID, DS, "label"]], on=[ID, DS])
        if len(keyed) > s.max_train_rows:
            kept = keyed[keyed["_keep"]]
            rest = keyed[~keyed["_keep"]]
            n = max(s.max_train_rows - len(kept), 0)
            keyed = pd.concat([kept, rest.sample(min(n, len(rest)), random_state=s.seed)])
        y = keyed["label"].to_numpy(dtype="float64")
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

    def predict_proba(self, features: pd.DataFrame) -> pd.Series:
        """Probability per row of `features` (`unique_id` + the feature columns), by item id."""
        ids = features[ID].to_numpy()
        if self.model_ is None:
            return pd.Series(self.constant_, index=ids, name="score")
        p = self.model_.predict_proba(features[self.feature_names_])[:, 1]
        odds = p / np.clip(1 - p, 1e-12, None) / self.weight_
        return pd.Series(odds / (1 + odds), index=ids, name="score")
