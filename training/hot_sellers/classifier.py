"""The hot-seller classifier: XGBoost on one feature row per (item, week), trained only on labels
already known at the origin (`label_available_at <= close of the cutoff`); imbalance handled by
`scale_pos_weight`, probabilities mapped back to the base rate.

Rows without a value for a feature (forecast-derived features exist only at the origins where
forecasts were made) are left missing: XGBoost learns a default direction for them.

`graph_features: auto` keeps the product-graph columns (`graph_*`) only where they won on the
labels already known (`select_groups`). Fold k (of `auto_folds`) scores the block of `auto_step`
weeks ending `k * auto_step` weeks before the latest labelled week: the classifier is fitted twice
on the labels known at the close of the block's first week, with and without the group, and scored
on the block's weeks whose labels were not known then; the fold's gain is the mean over those weeks
of the AP with minus without (a block of weeks, not one week: each week's AP rests on a few dozen
positives). Training at the block's first week keeps every scored week at least as far from its
training labels as the origin's week is from its own: fitted at the block's last week instead, the
earlier weeks' label windows overlap the training labels' more than the origin's do, and the fold
gains misjudged the group (measured: positive on a panel where the graph columns lost at every
origin). The group stays only when a one-sided t-test over the fold gains rejects "no gain" at level `auto_alpha`
(mean > t quantile x standard error) and more than half the folds gained: the smaller feature set
unless the larger one is clearly better. Neighbouring folds share surging items (a label spans
`horizon` weeks), so their gains are positively correlated and the standard error is if anything
too small; the test's level is a floor on the strictness, not its exact rate."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID, WEEK
from training.device import cpu_threads, xgboost_device
from training.hot_sellers.text_features import GROUP as TEXT_GROUP
from training.hot_sellers.text_score import COLUMN as TEXT_SCORE
from training.metrics import average_precision
from training.models.base import ModelSettings

# How the AP behind a choice counts tied scores: in row order, as the final ranking's choice
# (`combine.choose`) and the classifier variants' margins were measured on the suite. Counting
# each tied group as one threshold (the reports' AP, `training.metrics`) changed 4 of the 39
# evaluation origins' choices on thirteen stored panels, by chance either way (mean -0.007 AP;
# docs/accuracy-decisions.md, "Tied scores counted as one threshold").
CHOICE_TIES = "row"

GROUPS = {"graph_features": "graph_"}
"""Feature groups `auto` may drop: the setting that switches each on, and its columns' prefix."""
GRAPH_SCORER = "classifier_graph"
"""The score of the classifier with the graph columns, under `graph_features: scorer`."""
TEXT_SCORER = "classifier_text"
"""The score of the classifier with the text columns, under `text_features: scorer`."""
TEXT_SCORE_SCORER = "classifier_text_score"
"""The score of the classifier with the supervised text score, under `text_score: scorer`."""
SCORERS = {"graph_features": (GROUPS["graph_features"], GRAPH_SCORER), "text_features": (TEXT_GROUP, TEXT_SCORER),
           "text_score": (TEXT_SCORE, TEXT_SCORE_SCORER)}
"""Feature groups `scorer` may set apart: the setting, its columns' prefix(es) and the scorer's name."""


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
    max_train_rows: int = Field(
        1_000_000, ge=100, description="Labelled rows sampled for training (the rows at forecast origins always "
        "kept). Every labelled row on every panel of the accuracy suite: the 822-week one holds up to 594,000, and "
        "its classifier ranked better on all of them than on 400,000 sampled (docs/accuracy-decisions.md, hot_refit).",
    )
    n_jobs: int = Field(
        0, ge=0, description="XGBoost threads; 0 = every core (or DARKHORSE_THREADS: training.device.cpu_threads). "
        "The trees are the same whatever the count; set 1 where other processes share the cores.",
    )
    device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    customer_signals: bool = Field(
        True, description="Join the customer signals (features.customer_signals: buyers, their growth, new-customer "
        "share, repeat rate) where the marts hold customer purchase lines; absent otherwise.",
    )
    group_features: bool = Field(
        False, description="Join what the item's groups did (group_features: the growth of the group's sum over "
        "the coming horizon a season earlier, its seasonal-naive growth, 52-week ratios and momentum, the item's "
        "share) where the series have groups (training.groups: parts of a composite id, the category); absent "
        "otherwise. Off by default: on four panels with groups the classifier gained on two and the final ranking "
        "lost on three (docs/accuracy-decisions.md, 'Groups in the hot-seller classifier').",
    )
    graph_features: bool | Literal["auto", "scorer"] = Field(
        False, description="Join the product-graph features (graph_features: degree, neighbours' growth, surging "
        "neighbours, share of hot neighbours) where the marts hold item_graph_features; absent otherwise. `auto`: "
        "join them and keep them only where they win on earlier labelled weeks (select_groups). `scorer`: the "
        "classifier stays without them and a second one with them scores as `classifier_graph`, which the final "
        "ranking takes only where it wins on earlier labelled origins (fit_scorers).",
    )
    text_features: bool | Literal["scorer"] = Field(
        False, description="Join the item text features (text_features: TF-IDF + SVD components of the item's "
        "recent and known text, fitted at the origin on the text known there) where the marts hold "
        "item_week_texts; absent otherwise. `scorer`: the classifier stays without them and a second one with "
        "them scores as `classifier_text`, which the final ranking weighs like any scorer (fit_scorers).",
    )
    text_score: bool | Literal["scorer"] = Field(
        "scorer", description="Join `text_score` (text_score.py: the log-odds of a logistic regression on the item's "
        "TF-IDF text, fitted on the labels known at time-ordered checkpoints) where the marts hold item_week_texts. "
        "`scorer`: the classifier stays without it and a second one with it scores as `classifier_text_score`, "
        "which the final ranking takes only where it beat the classifier on the labelled origins (fit_scorers, "
        "combine.VARIANT_MARGIN_SE). Default `scorer`: chosen on the graph benchmark (README).",
    )
    text_dim: int = Field(8, ge=1, le=64, description="SVD components of the text features (each of two windows).")
    text_recent_weeks: int = Field(4, ge=1, le=52, description="Weeks of the recent text window (text_recent_*).")
    auto_folds: int = Field(3, ge=2, le=12, description="Folds `auto` validates a feature group on.")
    auto_step: int = Field(4, ge=1, le=52, description="Weeks between the folds' closes; each fold scores the "
                           "weeks of its block.")
    auto_alpha: float = Field(0.05, gt=0, lt=0.5, description="Level of `auto`'s one-sided t-test of the fold gains.")
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
            device=xgboost_device(s.device), n_jobs=cpu_threads(s.n_jobs),
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


def fit_scorers(
    params: dict, features: pd.DataFrame, labels: pd.DataFrame, *, keep: pd.Series | None, rows: pd.Index,
) -> tuple[dict[str, HotSellerClassifier], dict[str, pd.Series]]:
    """The classifiers fitted on `features` by score name (`classifier` first) and their scores
    of `rows`; each reads its own columns of a frame holding them all (`feature_names_`).

    Each feature group of `SCORERS` set to `scorer` (`graph_features`, `text_features`) is set
    apart: the classifier is fitted without its columns, and where `features` has them a second
    classifier (the same settings, that group on, the other set-apart groups off) scores the same
    rows under the group's name (`classifier_graph`, `classifier_text`, `classifier_text_score`): the final ranking then
    weighs it against the plain one on the origins whose labels are known (combine.choose),
    evidence that grows with every origin, instead of deciding inside one origin as `auto` does.
    A group without columns adds no scorer."""
    settings = ClassifierSettings(**params)  # the defaults too: `text_score` is `scorer` unless set
    apart = {g: SCORERS[g] for g in SCORERS if getattr(settings, g) == "scorer"}
    cols = {g: [c for c in features.columns if c.startswith(prefix)] for g, (prefix, _) in apart.items()}
    apart_cols = [c for g in cols for c in cols[g]]
    plain = features.drop(columns=apart_cols) if apart_cols else features
    clf = HotSellerClassifier(**params).fit(plain, labels, keep=keep)
    fitted = {"classifier": clf}
    out = {"classifier": clf.predict_proba(plain.loc[rows])}
    for g, (_, name) in apart.items():
        if cols[g]:
            with_group = features.drop(columns=[c for o in cols if o != g for c in cols[o]])
            fitted[name] = HotSellerClassifier(**{**params, g: True}).fit(with_group, labels, keep=keep)
            out[name] = fitted[name].predict_proba(with_group.loc[rows])
    return fitted, out


def _available(labels: pd.DataFrame, auto: list[str]) -> list[str]:
    if not auto:
        return []
    if "label_available_at" not in labels.columns:
        raise ClassifierSelectionError(
            f"labels: `auto` ({', '.join(auto)}) needs the label_available_at column to validate on earlier weeks")
    return ["label_available_at"]


def _fold_gain(clf: HotSellerClassifier, train: pd.DataFrame, test: pd.DataFrame, columns: list[str],
               without: list[str]) -> tuple[float, list[str]] | None:
    """The mean over `test`'s weeks of the AP with `columns` minus the AP with `without`, both
    fitted on `train`, and the weeks it averaged (those with a positive label)."""
    y = train["label"].to_numpy(dtype="float64")
    if y.sum() in (0, len(y)):
        return None
    p_with = clf._booster(y).fit(train[columns], y).predict_proba(test[columns])[:, 1]
    p_without = clf._booster(y).fit(train[without], y).predict_proba(test[without])[:, 1]
    diffs, weeks = [], []
    labels = test["label"].to_numpy(dtype="float64")
    for week, rows in test.groupby(DS).indices.items():
        a = average_precision(p_with[rows], labels[rows], ties=CHOICE_TIES)
        b = average_precision(p_without[rows], labels[rows], ties=CHOICE_TIES)
        if a is not None and b is not None:
            diffs.append(a - b)
            weeks.append(str(pd.Timestamp(week).date()))
    return (float(np.mean(diffs)), weeks) if diffs else None


def keeps(gains: list[float], alpha: float) -> tuple[bool, float, float, float]:
    """Whether fold gains show the larger feature set clearly better: at least two folds, a
    one-sided t-test rejecting "mean gain <= 0" at level `alpha`, and more than half the folds
    positive. Also the mean, its standard error and the t quantile the mean had to exceed in
    standard errors."""
    from scipy.stats import t

    n = len(gains)
    mean = float(np.mean(gains)) if n else float("nan")
    if n < 2:
        return False, mean, float("nan"), float("nan")
    se = float(np.std(gains, ddof=1) / np.sqrt(n))
    crit = float(t.ppf(1 - alpha, n - 1))
    return bool(mean > crit * se and 2 * sum(g > 0 for g in gains) > n), mean, se, crit


def select_groups(clf: HotSellerClassifier, keyed: pd.DataFrame, columns: list[str]) -> dict[str, dict]:
    """Per feature group set to `auto`: whether it stays (`kept`), its AP gain per fold (`gains`,
    with minus without), the weeks each fold scored (`weeks`), the mean gain, its standard error
    and the t quantile it had to exceed (`keeps`).

    `keyed`: the labelled feature rows (`unique_id, ds, label, label_available_at` + `columns`).
    Fold k scores the block of weeks (v - auto_step, v], v = the latest week - k * auto_step: fit on
    the rows whose label was known at the close of the block's first week, score the block's rows
    whose label was not."""
    s = clf.settings
    weeks = sorted(pd.to_datetime(keyed[DS]).unique())
    out: dict[str, dict] = {}
    known_at = pd.to_datetime(keyed["label_available_at"], utc=True)
    ds = pd.to_datetime(keyed[DS])
    for group in clf._auto():
        prefix = GROUPS[group]
        inner = [c for c in columns if c.startswith(prefix)]
        if not inner:
            out[group] = {"kept": False, "gains": [], "reason": "no column"}
            continue
        without = [c for c in columns if not c.startswith(prefix)]
        gains, folds = [], []
        for k in range(s.auto_folds if weeks else 0):
            v = weeks[-1] - pd.Timedelta(weeks=k * s.auto_step)
            first = v - pd.Timedelta(weeks=s.auto_step - 1)
            close = pd.Timestamp(first + WEEK, tz="UTC")  # no scored week nearer its training labels than the origin
            test = keyed[(ds >= first) & (ds <= v) & (known_at > close)]
            if not len(test) or test["label"].sum() == 0:
                continue
            got = _fold_gain(clf, clf._subsample(keyed[known_at <= close]), test, columns, without)
            if got is not None:
                gains.append(got[0])
                folds.append(got[1])
        kept, mean, se, crit = keeps(gains, s.auto_alpha)
        out[group] = {"kept": kept, "gains": [round(g, 4) for g in gains], "weeks": folds,
                      "mean": mean, "se": se, "t": crit}
    return out
