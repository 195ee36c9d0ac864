"""XGBoost forecasters: one global model over all items (COMBINED) and one per item (INDIVIDUAL).

Both are direct multi-horizon models: a training row is (item, origin week t, step k), trained
for the horizon given to `fit`.

COMBINED works on the right-aligned series matrix and scales every item by its own recent level
(mean of its last 13 weeks at the origin): the inputs are the item's recent weeks and windows
over that level, the season (the weeks around t + k one and two years earlier over the level,
last year's growth over the same weeks), the level itself (log), zero shares, weeks since the
last sale, the item's age, the Feast covariates at t, the step and the target week's calendar,
and where the series have groups (`training.groups`: the parts of a composite id, a category) each
group's momentum, last-year path around the target week and the series' share of it;
the target is log1p(units at t + k / level). One model learns the shape of every item's future
relative to its own volume, so large and small items share what they teach. The point forecast
is level * expm1(prediction); quantiles are split-conformal and time-ordered: the rows whose
target falls in the latest `calibration_weeks` weeks are held out, a booster fitted on the rows
whose targets all lie before them scores them, and the empirical quantiles of those log
residuals, per horizon-step bucket (`step_buckets` equal spans of the horizon: 1-4, 5-8, 9-12 for
12 weeks) and per level of the prediction, are added to the final booster's prediction (refitted
on every row when `refit`). A random split of the rows would put the same target weeks (and the
same items' neighbouring origins) on both sides and yield intervals too narrow for unseen weeks.

`target: ratio` fits units at t + k / level itself (with `objective: poisson` or `tweedie`, a
mean forecast on the ratio scale; the log target with squared error is a geometric-mean-like
forecast, with absolute error a median): the point forecast is level * prediction, the boosters
of a bag are averaged on the ratio scale, and the intervals are the same conformal bands, their
residuals taken in log space against log1p of the ratio prediction.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from darkhorse.core.schema import DS, ID, Y, quantile_columns
from training.device import cpu_threads, xgboost_device
from training.groups import GroupSums
from training.lags import (
    WindowSums,
    add_step,
    direct_pairs,
    past_features,
    scaled_features,
    series_level,
    tail_stat,
)
from training.models.base import Forecaster, ModelSettings, series_matrix
from training.models.fallback import FallbackName, fit_fallback

log = logging.getLogger(__name__)

N_BINS = 4
DAYS_PER_YEAR = 365.2425
PREDICT_ROWS = 200_000  # design rows per prediction call (the steps of a few items stack into one)


class XGBoostSettings(ModelSettings):
    n_estimators: int = Field(150, ge=1)
    max_depth: int = Field(6, ge=1, le=16)
    learning_rate: float = Field(0.1, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(5.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    max_bin: int = Field(128, ge=16, le=1024, description="Histogram bins per feature.")
    objective: Literal["absoluteerror", "squarederror", "poisson", "tweedie"] = Field(
        "squarederror",
        description="Loss on the target: squared or absolute error; poisson and tweedie (a mean "
        "on the ratio scale) need `target: ratio`.",
    )
    target: Literal["log", "ratio"] = Field(
        "log",
        description="What the boosters fit: log1p(units / level), or units / level itself "
        "(the point forecast is then level * prediction).",
    )
    tweedie_variance_power: float = Field(
        1.5, gt=1, lt=2, description="Variance power of the tweedie objective (1: poisson, 2: gamma)."
    )
    n_lags: int = Field(8, ge=1, le=52)
    level_weeks: int = Field(13, ge=1, description="Weeks of the level every item is scaled by.")
    use_covariates: bool = Field(True, description="Use the Feast activity features as inputs.")
    use_known_future: bool = Field(
        True, description="Read known-future covariates (given to fit as `future`) at the target week."
    )
    group_features: bool = Field(
        True, description="Read the series' groups given to fit (training.groups: the parts of a composite id, "
        "the category): each group's momentum, last-year path around the target week, level against a year "
        "earlier and the series' share of it.",
    )
    train_weeks: int = Field(52, ge=1, description="Origins from the last N weeks are used.")
    max_train_rows: int = Field(60_000, ge=100, description="Rows sampled for training (per bag).")
    n_bags: int = Field(
        3, ge=1, le=32,
        description="Boosters averaged (on the target's scale: log or ratio), each with its own seed and its own sample "
        "of up to max_train_rows rows: the forecast varies less from seed to seed.",
    )
    calibration_rows: int = Field(40_000, ge=100, description="Held-out rows for the intervals (sampled).")
    calibration_weeks: int = Field(
        13, ge=1,
        description="The latest target weeks held out for the intervals; the booster that scores "
        "them is fitted on rows whose targets all lie before them (at most a quarter of the weeks).",
    )
    step_buckets: int = Field(
        3, ge=1, description="Horizon-step buckets with their own residuals (3: 1-4, 5-8, 9-12 of 12)."
    )
    refit: bool = Field(
        True, description="Refit the booster on every row (calibration weeks included) for the forecast."
    )
    n_jobs: int = Field(
        0, ge=0,
        description="Threads; 0 = every core (or DARKHORSE_THREADS: training.device.cpu_threads). The trees "
        "are the same whatever the count; set 1 where other processes share the cores (OpenMP threads then "
        "wait on each other).",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _target_fits_objective(self) -> XGBoostSettings:
        if self.objective in ("poisson", "tweedie") and self.target != "ratio":
            raise ValueError(f"objective {self.objective} needs target: ratio (its predictions are ratios, not logs)")
        return self


_OBJECTIVES = {
    "absoluteerror": "reg:absoluteerror",
    "squarederror": "reg:squarederror",
    "poisson": "count:poisson",
    "tweedie": "reg:tweedie",
}


def _objective(settings: XGBoostSettings) -> str:
    return _OBJECTIVES[settings.objective]


def _as_log(settings: XGBoostSettings, pred: np.ndarray) -> np.ndarray:
    """A prediction or target as log1p(ratio), the scale of the conformal residuals: the value
    itself for the log target; log1p of the ratio (a negative one, from squared error, read as 0)
    for the ratio target."""
    if settings.target == "log":
        return pred
    return np.log1p(np.clip(pred, 0.0, None))


def _regressor(settings: XGBoostSettings, *, n_jobs: int, **over):
    import xgboost as xgb

    params = dict(
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        subsample=settings.subsample,
        colsample_bytree=settings.colsample_bytree,
        min_child_weight=settings.min_child_weight,
        reg_lambda=settings.reg_lambda,
        max_bin=getattr(settings, "max_bin", 256),
        objective=_objective(settings),
        tree_method="hist",
        device=xgboost_device(settings.device),
        n_jobs=n_jobs,
        random_state=settings.seed,
        verbosity=0,
    )
    if settings.objective == "tweedie":
        params["tweedie_variance_power"] = settings.tweedie_variance_power
    params.update(over)
    return xgb.XGBRegressor(**params)


def step_bucket(k: np.ndarray | int, horizon: int, n_buckets: int) -> np.ndarray:
    """The bucket of each step 1..horizon: `n_buckets` equal spans (12 steps, 3 buckets: 1-4, 5-8, 9-12)."""
    n_b = max(1, min(n_buckets, horizon))
    return (np.asarray(k) - 1) * n_b // horizon


class ConformalBands:
    """Out-of-sample log residuals per (step bucket, prediction-level bin)."""

    def __init__(self, pred: np.ndarray, resid: np.ndarray, bucket: np.ndarray, max_per_cell: int = 4000):
        self.edges = np.quantile(pred, np.linspace(0, 1, N_BINS + 1)[1:-1]) if len(pred) else np.array([])
        bins = np.searchsorted(self.edges, pred, side="right")
        self.cells: dict[tuple[int, int], np.ndarray] = {}
        self.by_bucket: dict[int, np.ndarray] = {}
        rng = np.random.default_rng(0)
        for k in np.unique(bucket):
            rk = resid[bucket == k]
            self.by_bucket[int(k)] = rk if len(rk) <= max_per_cell else rng.choice(rk, max_per_cell, replace=False)
            for b in range(N_BINS):
                r = resid[(bucket == k) & (bins == b)]
                if len(r) >= 30:
                    self.cells[(int(k), b)] = r if len(r) <= max_per_cell else rng.choice(r, max_per_cell, replace=False)
        self.pooled = resid if len(resid) else np.zeros(1)

    def offsets(self, pred: np.ndarray, k: int, quantiles: list[float]) -> np.ndarray:
        """The residual quantiles of bucket `k` for each prediction (its level bin's, else the bucket's)."""
        bins = np.searchsorted(self.edges, pred, side="right")
        out = np.empty((len(pred), len(quantiles)))
        base = self.by_bucket.get(k, self.pooled)
        for b in range(N_BINS):
            mask = bins == b
            if mask.any():
                r = self.cells.get((k, b), base)
                out[mask] = np.quantile(r, quantiles)[None, :]
        return out


class _Bag:
    """Boosters whose predictions (on the target's scale: log or ratio) are averaged; gain
    importance summed over them."""

    def __init__(self, boosters: list, feature_names: list[str]) -> None:
        self.boosters, self.feature_names = boosters, feature_names

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The boosters' mean prediction (`X`: a frame, or an array in `feature_names` order). A
        frame becomes one float32 array, the values the boosters read, once rather than once per
        booster (the same predictions; a booster's own conversion of a frame costs about a
        millisecond per call, most of a one-item answer)."""
        data = X[self.feature_names].to_numpy(dtype="float32") if isinstance(X, pd.DataFrame) else X
        return np.mean([b.predict(data) for b in self.boosters], axis=0)

    def importance(self) -> pd.Series:
        total = dict.fromkeys(self.feature_names, 0.0)
        for b in self.boosters:
            for f, g in b.get_booster().get_score(importance_type="gain").items():
                total[f] += float(g) / len(self.boosters)
        return pd.Series(total).sort_values(ascending=False)


class _Panel:
    """The frame as matrices (series x weeks, right-aligned) and the design of any
    (series, origin column, step) rows."""

    def __init__(
        self,
        df: pd.DataFrame,
        covariates: list[str],
        settings: XGBoostSettings,
        known_future: pd.DataFrame | None = None,
        groups: pd.DataFrame | None = None,
    ) -> None:
        self.settings = settings
        mat, self.lengths, self.ids = series_matrix(df)
        self.sums = WindowSums(mat)
        self.groups = GroupSums(mat, self.ids, groups)
        self.width = mat.shape[1]
        last = df.groupby(ID, sort=False)[DS].max().reindex(self.ids)
        self.last_day = last.to_numpy().astype("datetime64[D]").astype("int64")
        self.covs = {c: series_matrix(df, c)[0] for c in covariates}
        # known-future covariates: the history's columns, then the future's weeks 1..h after it
        # (column width - 1 + k is week k after the series' last week)
        self.known: dict[str, np.ndarray] = {}
        if known_future is not None:
            h = int(known_future.groupby(ID).size().max())
            pos = pd.Series(np.arange(len(self.ids)), index=self.ids)
            rows = pos.reindex(known_future[ID]).to_numpy()
            step = ((known_future[DS].to_numpy() - last.reindex(known_future[ID]).to_numpy()) // np.timedelta64(7, "D")).astype(int)
            for c in known_future.columns.drop([ID, DS]):
                m = np.full((len(self.ids), self.width + h), np.nan)
                m[:, : self.width] = series_matrix(df, c)[0]
                m[rows, self.width - 1 + step] = known_future[c].to_numpy(dtype="float64")
                self.known[c] = m

    def known_features(self, rows: np.ndarray, t: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
        """Each known-future covariate at the target week t + k, and over its mean of the 13
        weeks up to the origin (a price against its recent level: a discount, a rise)."""
        out: dict[str, np.ndarray] = {}
        for c, m in self.known.items():
            v = m[rows, t + k]
            past = np.stack([m[rows, np.maximum(t - j, 0)] for j in range(13)], axis=1)
            out[f"kf_{c}"] = v
            out[f"kf_{c}_rel"] = _relative(v, _nanmean_rows(past))
        return out

    def design(self, rows: np.ndarray, t: np.ndarray, k: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        s = self.settings
        level = series_level(self.sums, rows, t, window=s.level_weeks)
        feats = scaled_features(self.sums, rows, t, k, level, n_lags=s.n_lags)
        for c, m in self.covs.items():
            v = m[rows, t]
            feats[f"cov_{c}"] = np.log1p(np.clip(v, 0.0, None)) if np.nanmin(m, initial=0.0) >= 0 else v
        day = self.last_day[rows] + 7 * (t - (self.width - 1) + k)
        phase = 2 * np.pi * (day % DAYS_PER_YEAR) / DAYS_PER_YEAR
        feats.update(self.known_features(rows, t, k))
        feats.update(self.groups.features(rows, t, k, level))
        feats["step"] = k.astype("float64")
        feats["target_woy_sin"] = np.sin(phase)
        feats["target_woy_cos"] = np.cos(phase)
        return pd.DataFrame(feats), level


def _relative(value: np.ndarray, base: np.ndarray) -> np.ndarray:
    """A known-future value over its recent level (`kf_<name>_rel`); NaN where the level is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(base) > 1e-12, value / base, np.nan)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Mean of each row's finite values (NaN for a row without any)."""
    finite = np.isfinite(a)
    n = finite.sum(axis=1)
    total = np.where(finite, a, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _as_day(day: int) -> pd.Timestamp:
    """A day number (days since 1970-01-01) as a timestamp."""
    return pd.Timestamp(np.datetime64(int(day), "D"))


def _covariates(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in (ID, DS, Y) and pd.api.types.is_numeric_dtype(df[c])]


class XGBoostGlobalSettings(XGBoostSettings):
    min_train_rows: int = Field(
        50, ge=10,
        description="Training rows (and rows before the calibration weeks) the booster needs; with fewer (a short or "
        "single-series history) every item takes the `fallback` baseline, recorded in fit_info_.",
    )
    fallback: FallbackName = Field("moving_average", description="The baseline of a history too short for the booster.")


class XGBoostGlobal(Forecaster):
    """COMBINED: one model over every item, each scaled by its own level, so sparse items learn
    from the others and the season is read from the item's own last year."""

    model_name = "xgboost"
    Settings = XGBoostGlobalSettings
    global_model = True
    uses_covariates = True
    uses_future_covariates = True
    uses_groups = True
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20, "max_depth": 3, "max_train_rows": 5000, "n_bags": 2}

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        h = self.horizon_
        known = self.future_ if s.use_known_future else None
        known_cols = [] if known is None else list(known.columns.drop([ID, DS]))
        self.known_columns_ = known_cols
        past_covs = [c for c in _covariates(df) if c not in known_cols] if s.use_covariates else []
        panel = _Panel(df, past_covs, s, known, self.groups_ if s.group_features else None)
        W = panel.width
        first_col = W - panel.lengths  # each series' first known column
        # candidate rows: origins in the last train_weeks + h weeks with a known target
        t0 = max(0, W - 1 - s.train_weeks - h)
        ts = np.arange(t0, W - 1)
        n = len(panel.ids)
        rows = np.repeat(np.arange(n), len(ts))
        t = np.tile(ts, n)
        keep = t >= first_col[rows]
        rows, t = rows[keep], t[keep]
        rr, tt, kk = [], [], []
        for k in range(1, h + 1):
            ok = t + k < W
            rr.append(rows[ok])
            tt.append(t[ok])
            kk.append(np.full(int(ok.sum()), k))
        rows, t, k = np.concatenate(rr), np.concatenate(tt), np.concatenate(kk)
        if len(rows) < s.min_train_rows:
            return self._fall_back(df, f"only {len(rows)} training rows for horizon {h}")
        target = panel.sums.mat[rows, t + k]
        # time-ordered split: the latest weeks of targets (calendar weeks) calibrate the intervals
        day = panel.last_day[rows] + 7 * (t + k - (W - 1))
        weeks = np.unique(day)
        n_cal_weeks = max(1, min(s.calibration_weeks, len(weeks) // 4))
        first_cal = weeks[-n_cal_weeks]
        is_cal = day >= first_cal
        rng = np.random.default_rng(s.seed)
        cal = rng.permutation(np.flatnonzero(is_cal))[: s.calibration_rows]
        early = np.flatnonzero(~is_cal)
        if len(early) < s.min_train_rows:
            return self._fall_back(
                df, f"only {len(early)} rows have targets before the {n_cal_weeks} calibration weeks (horizon {h})"
            )
        self.fallback_ = None
        self.__dict__.pop("fit_info_", None)  # a refit with history enough records no fallback
        train = rng.permutation(early)[: s.max_train_rows]

        def xy(sel):
            X, level = panel.design(rows[sel], t[sel], k[sel])
            ratio = np.clip(target[sel], 0.0, None) / level
            return X, (np.log1p(ratio) if s.target == "log" else ratio)

        n_jobs = cpu_threads(s.n_jobs)

        def bag(pool: np.ndarray) -> _Bag:
            """n_bags boosters, each on its own sample of `pool` (all of it when it is small)."""
            boosters = []
            for b in range(s.n_bags):
                sel = pool if b == 0 else np.random.default_rng([s.seed, b]).permutation(pool)
                X, y = xy(sel[: s.max_train_rows])
                boosters.append(_regressor(s, n_jobs=n_jobs, random_state=s.seed + 7919 * b).fit(X, y))
            return _Bag(boosters, list(X.columns))

        model = bag(train)
        self.feature_names_ = model.feature_names
        Xc, yc = xy(cal)
        pc = _as_log(s, model.predict(Xc))
        self.bands_ = ConformalBands(pc, _as_log(s, yc) - pc, step_bucket(k[cal], h, s.step_buckets))
        self.calibration_ = {
            "weeks": n_cal_weeks,
            "last_train_target": _as_day(day[train].max()),
            "first_calibration_target": _as_day(day[cal].min()) if len(cal) else None,
            "n_train": len(train),
            "n_calibration": len(cal),
            "buckets": {int(b): int((step_bucket(k[cal], h, s.step_buckets) == b).sum())
                        for b in np.unique(step_bucket(np.arange(1, h + 1), h, s.step_buckets))},
            "refit": s.refit,
        }
        if s.refit:  # the forecast's booster sees every week, the calibration weeks included
            train = rng.permutation(len(rows))
            model = bag(train)
            train = train[: s.max_train_rows]
        self.model_ = model
        # what prediction needs: the design of every series' last week for steps 1..h
        last = np.arange(n)
        self.pred_design_ = [panel.design(last, np.full(n, W - 1), np.full(n, step)) for step in range(1, h + 1)]
        self.pred_ids_ = panel.ids
        # the recent level of each known-future covariate at the last week (a new plan's ratio)
        self.known_base_ = {c: _nanmean_rows(m[:, max(W - 13, 0) : W]) for c, m in panel.known.items()}
        self.n_train_rows_ = len(train)
        self.feature_importance_ = self.model_.importance()

    def _fall_back(self, df: pd.DataFrame, reason: str) -> None:
        """Too little history for the booster: every item takes the `fallback` baseline, said in
        the log and in fit_info_ (the backtest's model_info), so a short or single-series panel
        still gets this member's forecast and the blend keeps its members."""
        s = self.settings
        log.warning("%s: %s (min_train_rows %d): every item takes the %s baseline", self.alias, reason, s.min_train_rows, s.fallback)
        self.fallback_ = fit_fallback(s.fallback, df)
        self.fit_info_ = {"fallback": s.fallback, "reason": reason}
        self.known_columns_ = []
        self.feature_importance_ = None

    def _fallback_frame(self, h: int, quantiles: list[float], only: pd.Index | None = None) -> pd.DataFrame:
        fb = self.fallback_.predict(h=h, quantiles=quantiles, ids=None if only is None else list(only))
        old = [self.fallback_.alias, *quantile_columns(self.fallback_.alias, quantiles)]
        new = [self.alias, *quantile_columns(self.alias, quantiles)]
        return fb.rename(columns=dict(zip(old, new, strict=True)))

    def _other_plan(self, plan: pd.DataFrame | None) -> pd.DataFrame | None:
        """`plan` when it is another than the fitted one and the booster reads it; None where the
        prediction designs already hold what it would give."""
        if not getattr(self, "known_columns_", None) or plan is self.future_:
            return None
        return plan

    def _predict_future(self, h: int, quantiles: list[float], future: pd.DataFrame) -> pd.DataFrame:
        return self._predict(h, quantiles, future=self._other_plan(future))

    def _predict_some(self, h: int, quantiles: list[float], plan: pd.DataFrame | None, only: pd.Index) -> pd.DataFrame:
        return self._predict(h, quantiles, future=self._other_plan(plan), only=only)

    def _predict(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None = None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        """Every series' forecast, or `only`'s (their rows of the prediction designs); `future`:
        another plan than the fitted one, with rows for the series predicted."""
        if getattr(self, "fallback_", None) is not None:
            return self._fallback_frame(h, quantiles, only)
        at = slice(None) if only is None else pd.Index(self.pred_ids_).get_indexer(only)
        n = len(self.last_ds_) if only is None else len(only)
        point = np.empty((n, h))
        qvals = np.empty((n, h, len(quantiles)))
        plan = None
        if future is not None:  # another plan than the fitted one: its values at each step
            last = self._last(only)
            steps = ((future[DS].to_numpy() - last.reindex(future[ID]).to_numpy()) // np.timedelta64(7, "D")).astype(int)
            rows = pd.Series(np.arange(n), index=last.index).reindex(future[ID]).to_numpy()
            plan = {}
            for c in self.known_columns_:
                m = np.full((n, h), np.nan)
                m[rows, steps - 1] = future[c].to_numpy(dtype="float64")
                plan[c] = m
        # the steps' design rows stacked, up to PREDICT_ROWS at a time: one call per booster for
        # a few items' answer (each call costs about half a millisecond before any row)
        column = {name: j for j, name in enumerate(self.feature_names_)}
        arrays, levels = [], []
        for k in range(1, h + 1):
            X, level = self.pred_design_[k - 1]
            if only is not None:
                X, level = X.iloc[at], level[at]
            arr = X[self.feature_names_].to_numpy(dtype="float32")
            for c, m in (plan or {}).items():
                arr[:, column[f"kf_{c}"]] = m[:, k - 1]
                arr[:, column[f"kf_{c}_rel"]] = _relative(m[:, k - 1], self.known_base_[c][at])
            arrays.append(arr)
            levels.append(level)
        per = max(1, PREDICT_ROWS // max(n, 1))
        raws: list[np.ndarray] = []
        for i in range(0, h, per):
            chunk = arrays[i : i + per]
            raws += np.split(self.model_.predict(np.concatenate(chunk)), len(chunk))
        for k in range(1, h + 1):
            raw, level = raws[k - 1], levels[k - 1]
            p = _as_log(self.settings, raw)
            if self.settings.target == "log":
                point[:, k - 1] = level * np.expm1(p)
            else:  # the ratio prediction itself (a mean forecast keeps its mean)
                point[:, k - 1] = level * np.clip(raw, 0.0, None)
            offsets = self.bands_.offsets(p, int(step_bucket(k, self.horizon_, self.settings.step_buckets)), quantiles)
            qvals[:, k - 1, :] = level[:, None] * np.expm1(p[:, None] + offsets)
        return self._frame(h, quantiles, point, qvals, only)


# --------------------------------------------------------------------------- INDIVIDUAL
class XGBoostIndividualSettings(XGBoostSettings):
    n_estimators: int = Field(60, ge=1)
    max_depth: int = Field(3, ge=1, le=16)
    min_child_weight: float = Field(1.0, ge=0)
    max_items: int = Field(500, ge=1, description="Items (largest recent volume) that get a model.")
    min_rows: int = Field(60, ge=10, description="Training rows an item needs for its own model.")
    holdout: float = Field(0.2, gt=0, lt=0.5, description="Share of rows kept for the intervals.")
    fallback_window: int = Field(8, ge=1, description="Moving average for the other items.")
    use_covariates: bool = False
    objective: Literal["absoluteerror", "squarederror"] = "squarederror"
    target: Literal["log"] = Field("log", description="Each item's model fits log1p(units).")
    n_jobs: int = Field(0, ge=0, description="Processes (one thread each); 0 = all cores.")


def _fit_one_chunk(args):
    """Worker: fit one small model per item of the chunk (one thread each)."""
    settings, chunk = args
    out = []
    for sid, X, y, Xlast, steps in chunk:
        rng = np.random.default_rng(settings.seed)
        idx = rng.permutation(len(y))
        n_hold = max(int(len(y) * settings.holdout), 1)
        hold, train = idx[:n_hold], idx[n_hold:]
        model = _regressor(settings, n_jobs=1, device="cpu").fit(X[train], y[train])
        resid = y[hold] - model.predict(X[hold])
        preds = np.stack([model.predict(Xk) for Xk in Xlast], axis=1)
        out.append((sid, preds, resid, steps[hold]))
    return out


class XGBoostIndividual(Forecaster):
    """INDIVIDUAL: one small model per item, fitted in parallel processes (one thread each);
    items outside the `max_items` largest, or with too little history, get a moving average.
    Intervals: held-out residuals of all item models, pooled per step (log space)."""

    model_name = "xgboost_individual"
    Settings = XGBoostIndividualSettings
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 10, "max_depth": 2, "n_jobs": 2, "min_rows": 20}

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        feats = past_features(df, n_lags=s.n_lags)
        rows, steps, targets = direct_pairs(df, self.horizon_)
        y_log = np.log1p(df[Y].to_numpy())
        ids = df[ID].to_numpy()
        recent = df[df[DS] > df[DS].max() - pd.Timedelta(weeks=12)].groupby(ID)[Y].sum()
        chosen = set(recent.sort_values(ascending=False).index[: s.max_items])
        last_rows = df.groupby(ID, sort=True).tail(1).index.to_numpy()
        last_feats = feats.loc[last_rows].reset_index(drop=True)
        last_ds = df.loc[last_rows, DS].reset_index(drop=True)
        Xlast_all = [add_step(last_feats, last_ds, k).to_numpy(dtype="float32") for k in range(1, self.horizon_ + 1)]
        pos_of = {sid: i for i, sid in enumerate(df.loc[last_rows, ID])}
        X_all = add_step(feats.iloc[rows].reset_index(drop=True), df[DS].iloc[rows].reset_index(drop=True), steps)
        self.feature_names_ = list(X_all.columns)
        X_all = X_all.to_numpy(dtype="float32")
        row_ids = ids[rows]
        tasks = []
        order = np.argsort(row_ids, kind="stable")
        bounds = np.flatnonzero(np.r_[True, row_ids[order][1:] != row_ids[order][:-1], True])
        for a, b in itertools.pairwise(bounds):
            sel = order[a:b]
            sid = row_ids[sel[0]]
            if sid not in chosen or len(sel) < s.min_rows:
                continue
            p = pos_of[sid]
            tasks.append((sid, X_all[sel], y_log[targets[sel]], [x[p : p + 1] for x in Xlast_all], steps[sel]))
        n_jobs = max(1, min(s.n_jobs or (os.cpu_count() or 1), len(tasks)))
        chunks = [tasks[i::n_jobs] for i in range(n_jobs)] if tasks else []
        results = []
        if n_jobs > 1 and len(tasks) > 1:
            # spawn, not fork: forking a process that already runs OpenMP/DuckDB threads can hang
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                for part in pool.map(_fit_one_chunk, [(s, c) for c in chunks]):
                    results.extend(part)
        elif tasks:
            results = _fit_one_chunk((s, tasks))
        self.item_preds_ = {sid: preds[0] for sid, preds, _, _ in results}
        resid = np.concatenate([r for _, _, r, _ in results]) if results else np.zeros(1)
        rsteps = np.concatenate([k for _, _, _, k in results]) if results else np.ones(1, int)
        self.resid_by_step_ = {int(k): resid[rsteps == k] for k in np.unique(rsteps)}
        self.pooled_resid_ = resid
        lvl = tail_stat(df, s.fallback_window)
        self.fallback_level_ = np.log1p(lvl.reindex(self.last_ds_.index).to_numpy())
        self.n_item_models_ = len(self.item_preds_)

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        ids = list(self.last_ds_.index)
        base = np.repeat(self.fallback_level_[:, None], h, axis=1)
        for i, sid in enumerate(ids):
            if sid in self.item_preds_:
                base[i] = self.item_preds_[sid][:h]
        qvals = np.empty((len(ids), h, len(quantiles)))
        for k in range(1, h + 1):
            r = self.resid_by_step_.get(k, self.pooled_resid_)
            r = r if len(r) >= 30 else self.pooled_resid_
            qvals[:, k - 1, :] = np.expm1(base[:, k - 1, None] + np.quantile(r, quantiles)[None, :])
        return self._frame(h, quantiles, np.expm1(base), qvals)
