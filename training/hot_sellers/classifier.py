"""The hot-seller classifier: XGBoost on one feature row per (item, week), trained only on labels
already known at the origin (`label_available_at <= close of the cutoff`); imbalance handled by
`scale_pos_weight`, probabilities mapped back to the base rate.

Rows without a value for a feature (forecast-derived features exist only at the origins where
forecasts were made) are left missing: XGBoost learns a default direction for them.

`graph_features: auto` keeps the product-graph columns (`graph_*`) only where they won on the
labels already known (`select_groups`): at each of the `auto_folds` latest labelled weeks
(`auto_step` weeks apart) the classifier is fitted twice on the labels known at that week's close,
with and without the group, and scored on that week's labels; the group stays only when its mean
gain in average precision exceeds one standard error of the gains (the one-standard-error rule:
the smaller feature set unless the larger one is clearly better), so a group that does not help
on a panel is dropped there."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID, WEEK
from training.device import xgboost_device
from training.metrics import average_precision
from training.models.base import ModelSettings

GROUPS = {"graph_features": "graph_"}
"""Feature groups `auto` may drop: the setting that switches each on, and its columns' prefix."""


class ClassifierSelectionError(DarkHorseError, ValueError):
    """`auto` feature selection lacks what it needs; the message names the column."""


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
    graph_features: bool | Literal["auto"] = Field(
        False, description="Join the product-graph features (graph_features: degree, neighbours' growth, surging "
        "neighbours, share of hot neighbours) where the marts hold item_graph_features; absent otherwise. `auto`: "
        "join them and keep them only where they win on earlier labelled weeks (select_groups).",
    )
    auto_folds: int = Field(3, ge=2, le=12, description="Labelled weeks `auto` validates a feature group on.")
    auto_step: int = Field(4, ge=1, le=52, description="Weeks between the labelled weeks `auto` validates on.")
    seed: int = 0


class HotSellerClassifier:
    """`fit` on labelled feature rows; `predict_proba` on the rows of the origin."""

    def __init__(self, **params) -> None:
        self.settings = ClassifierSettings(**params)

    def fit(self, features: pd.DataFrame, labels: pd.DataFrame, *, keep: pd.Series | None = None) -> HotSellerClassifier:
        """`features`: `unique_id, ds` + feature columns; `labels`: `unique_id, ds, label`, only
        labels already known. Rows flagged by `keep` (aligned with `features`) survive the
        subsample to `max_train_rows`."""
        columns = [c for c in features.columns if c not in (ID, DS)]
        frame = features.assign(_keep=False if keep is None else keep.to_numpy())
        keyed = frame.merge(labels[[ID, DS, "label", *_available(labels, self._auto())]], on=[ID, DS])
        self.selection_ = select_groups(self, keyed, columns) if self._auto() else {}
        dropped = {p for g, p in GROUPS.items() if g in self.selection_ and not self.selection_[g]["kept"]}
        self.feature_names_ = [c for c in columns if not any(c.startswith(p) for p in dropped)]
        keyed = self._subsample(keyed)
        y = keyed["label"].to_numpy(dtype="float64")
        pos = y.sum()
        self.n_train_, self.n_pos_ = len(y), int(pos)
        if pos == 0 or pos == len(y):
            self.model_ = None
            self.constant_ = float(pos / max(len(y), 1))
            return self
        self.model_ = self._booster(y).fit(keyed[self.feature_names_], y)
        # scale_pos_weight inflates probabilities; map them back to the base rate (prior shift)
        self.prior_, self.weight_ = float(pos / len(y)), float((len(y) - pos) / pos)
        gain = self.model_.get_booster().get_score(importance_type="gain")
        self.feature_importance_ = pd.Series({f: float(gain.get(f, 0.0)) for f in self.feature_names_})
        return self

    def _auto(self) -> list[str]:
        """The feature groups set to `auto`."""
        return [g for g in GROUPS if getattr(self.settings, g) == "auto"]

    def _subsample(self, keyed: pd.DataFrame) -> pd.DataFrame:
        """At most `max_train_rows` rows, every row flagged `_keep` among them."""
        s = self.settings
        if len(keyed) <= s.max_train_rows:
            return keyed
        kept = keyed[keyed["_keep"]]
        rest = keyed[~keyed["_keep"]]
        n = max(s.max_train_rows - len(kept), 0)
        return pd.concat([kept, rest.sample(min(n, len(rest)), random_state=s.seed)])

    def _booster(self, y: np.ndarray):
        import xgboost as xgb

        s, pos = self.settings, y.sum()
        return xgb.XGBClassifier(
            n_estimators=s.n_estimators, max_depth=s.max_depth, learning_rate=s.learning_rate,
            subsample=s.subsample, colsample_bytree=s.colsample_bytree,
            min_child_weight=s.min_child_weight, objective="binary:logistic",
            scale_pos_weight=float((len(y) - pos) / pos), tree_method="hist",
            device=xgboost_device(s.device), n_jobs=s.n_jobs or (os.cpu_count() or 1),
            random_state=s.seed, verbosity=0,
        )

    def predict_proba(self, features: pd.DataFrame) -> pd.Series:
        """Probability per row of `features` (`unique_id` + the feature columns), by item id."""
        ids = features[ID].to_numpy()
        if self.model_ is None:
            return pd.Series(self.constant_, index=ids, name="score")
        p = self.model_.predict_proba(features[self.feature_names_])[:, 1]
        odds = p / np.clip(1 - p, 1e-12, None) / self.weight_
        return pd.Series(odds / (1 + odds), index=ids, name="score")


def _available(labels: pd.DataFrame, auto: list[str]) -> list[str]:
    if not auto:
        return []
    if "label_available_at" not in labels.columns:
        raise ClassifierSelectionError(
            f"labels: `auto` ({', '.join(auto)}) needs the label_available_at column to validate on earlier weeks")
    return ["label_available_at"]


def _fold_ap(clf: HotSellerClassifier, train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> float | None:
    y = train["label"].to_numpy(dtype="float64")
    if y.sum() in (0, len(y)):
        return None
    model = clf._booster(y).fit(train[columns], y)
    return average_precision(model.predict_proba(test[columns])[:, 1], test["label"].to_numpy(dtype="float64"))


def select_groups(clf: HotSellerClassifier, keyed: pd.DataFrame, columns: list[str]) -> dict[str, dict]:
    """Per feature group set to `auto`: whether it stays (`kept`), its AP gain per validated week
    (`gains`, with minus without) and their mean and standard error.

    `keyed`: the labelled feature rows (`unique_id, ds, label, label_available_at` + `columns`).
    A validated week v: fit on the rows whose label was known at v's close, score v's rows. A
    group stays only when the mean gain exceeds one standard error over at least two weeks."""
    s = clf.settings
    weeks = sorted(pd.to_datetime(keyed[DS]).unique())
    out: dict[str, dict] = {}
    known_at = pd.to_datetime(keyed["label_available_at"], utc=True)
    for group in clf._auto():
        prefix = GROUPS[group]
        inner = [c for c in columns if c.startswith(prefix)]
        if not inner:
            out[group] = {"kept": False, "gains": [], "reason": "no column"}
            continue
        without = [c for c in columns if not c.startswith(prefix)]
        gains, folds = [], []
        for k in range(s.auto_folds):
            if not weeks:
                break
            v = weeks[-1] - pd.Timedelta(weeks=k * s.auto_step)
            test = keyed[keyed[DS] == v]
            train = clf._subsample(keyed[known_at <= pd.Timestamp(v + WEEK, tz="UTC")])
            if not len(test) or test["label"].sum() == 0:
                continue
            with_ap, without_ap = _fold_ap(clf, train, test, columns), _fold_ap(clf, train, test, without)
            if with_ap is None or without_ap is None:
                continue
            gains.append(with_ap - without_ap)
            folds.append(str(pd.Timestamp(v).date()))
        mean = float(np.mean(gains)) if gains else float("nan")
        se = float(np.std(gains, ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else float("nan")
        kept = len(gains) > 1 and mean > se
        out[group] = {"kept": bool(kept), "gains": [round(g, 4) for g in gains], "weeks": folds,
                      "mean": mean, "se": se}
    return out
