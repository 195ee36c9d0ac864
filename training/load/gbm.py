"""The global XGBoost load forecaster: one model over every series, each window scaled by its
own level (`windows.Windows`), direct multi-step with the step as an input.

A row is (series, origin t, step k); its inputs, all over the window's level:

* the last `n_lags` intervals up to t;
* the target's phase one, two, ... days back (`day_lags`) and one, two, ... weeks back
  (`week_lags`): the interval t + k - m * ceil(k / m) - m * i for m = a day, a week of the
  grain, i.e. the latest observed interval of the same phase and those before it, with their
  mean and median;
* the means of the last day and week, the spread of the last day, the level (log);
* the step, and (with `calendar`) the target's minute of day and day of week.

The target is the load at t + k over the level (squared or absolute error); with `weight: mase`
each row is weighted by its level over its series' mean absolute daily seasonal difference
(the weight its error has in the series' MASE: better MASE, worse sMAPE on M4 Hourly, see
README); the forecast is the level times the prediction. Training rows have their target before the held-out window
(`max(horizon, day)` intervals, the calibration window); quantiles are split-conformal: the
point plus the empirical quantiles, per step, of the scaled residuals of rows whose origin
lies in that window (rows the model never trained on), times the level. The held-out window's
last `horizon` intervals give `validation()` at no extra cost. With `refit_full` the model is
trained again on every row for the forecast (the residuals stay those of the first fit).

`refresh(df)` reads new windows (the streaming buffer) with the trained booster: nothing is
refitted, the forecast of a series that moved to a new level follows that level.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from training.device import xgboost_device
from training.load.frame import LoadFrameError, step
from training.load.members import LoadForecaster, LoadSettings
from training.load.windows import Windows, sample_triples, training_origins

MIN_STEP_RESIDUALS = 50


class XGBoostLoadSettings(LoadSettings):
    n_estimators: int = Field(300, ge=1)
    max_depth: int = Field(8, ge=1, le=16)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(5.0, ge=0)
    objective: Literal["squarederror", "absoluteerror"] = Field(
        "squarederror", description="Loss on the level-scaled target."
    )
    n_lags: int = Field(24, ge=1, le=2016, description="Most recent intervals as inputs.")
    day_lags: int = Field(7, ge=0, le=28, description="The target's phase 1..N days back.")
    week_lags: int = Field(2, ge=0, le=8, description="The target's phase 1..N weeks back.")
    calendar: bool = Field(True, description="The target's minute of day and day of week as inputs.")
    max_train_rows: int = Field(300_000, ge=100, description="(series, origin, step) rows sampled for training.")
    max_calibration_rows: int = Field(200_000, ge=100, description="Held-out rows behind the quantiles.")
    weight: Literal["none", "mase"] = Field(
        "none", description="Row weights: none, or level over the series' daily seasonal MAE (MASE's scale)."
    )
    refit_full: bool = Field(False, description="Train again on every row (the held-out window too) for the forecast.")
    n_jobs: int = Field(1, ge=0, description="Threads; 0 = all cores.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


class XGBoostLoad(LoadForecaster):
    Settings = XGBoostLoadSettings
    name = "xgboost"
    conditional = True

    # ------------------------------------------------------------------ design
    def _design(self, win: Windows, rows: np.ndarray, t: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        day, week = self.periods_["day"], self.periods_["week"]
        level = win.level(rows, t)
        cols = [win.block(rows, t, s.n_lags)[:, ::-1] / level[:, None]]  # lag 0 first
        for m, n in ((day, s.day_lags), (week, s.week_lags)):
            if n:
                back = m * np.ceil(k / m).astype(np.int64)
                idx = (t + k - back)[:, None] - m * np.arange(n)[None, :]
                phase = win.at(rows[:, None], idx) / level[:, None]
                cols.append(phase)
                if n > 1:  # the phase's mean and median over those days or weeks
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
                        cols.append(np.column_stack([np.nanmean(phase, axis=1), np.nanmedian(phase, axis=1)]))
        extra = [
            win.window_mean(rows, t, day) / level,
            win.window_mean(rows, t, week) / level,
            np.nanstd(win.block(rows, t, min(day, 288)), axis=1) / level,
            np.log1p(level),
            k.astype("float64"),
        ]
        if s.calendar:
            delta = step(self.freq_)
            target = self.end_ns_[rows] + (t + k - (win.width - 1)) * delta.value
            minutes = (target // 60_000_000_000) % 1440
            dow = (target // 86_400_000_000_000 + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
            extra += [minutes.astype("float64"), dow.astype("float64")]
        X = np.column_stack([*cols, np.column_stack(extra)])
        return X.astype("float32"), level

    def _regressor(self):
        import xgboost as xgb

        s = self.settings
        return xgb.XGBRegressor(
            n_estimators=s.n_estimators, max_depth=s.max_depth, learning_rate=s.learning_rate,
            subsample=s.subsample, colsample_bytree=s.colsample_bytree, min_child_weight=s.min_child_weight,
            objective=f"reg:{s.objective}", tree_method="hist", max_bin=128,
            device=xgboost_device(s.device), n_jobs=s.n_jobs, random_state=s.seed, verbosity=0,
        )

    def _windows(self) -> Windows:
        win = Windows(self.series_, day=self.periods_["day"])
        self.end_ns_ = pd.DatetimeIndex(self.last_ds_.to_numpy()).asi8
        return win

    # ------------------------------------------------------------------ fit
    def _fit(self, df: pd.DataFrame) -> None:
        s, h = self.settings, self.horizon_
        rng = np.random.default_rng(s.seed)
        win = self._windows()
        W = win.width
        holdout = max(h, self.periods_["day"])
        cut = W - holdout
        min_history = min(self.periods_["day"], max(1, int(win.lengths.min()) // 4))
        rows, t = training_origins(win, cut=cut, horizon=h, min_history=min_history)
        if len(rows) == 0:
            raise LoadFrameError(
                f"load model {self.alias!r}: no series holds {min_history} intervals before its last {holdout}"
            )
        r, tt, k = sample_triples(rows, t, cut=cut, horizon=h, n=s.max_train_rows, rng=rng)
        X, level = self._design(win, r, tt, k)
        target = win.mat[r, tt + k] / level
        weight = self._weights(win, r, level, cut)
        self.model_ = self._regressor().fit(X, target, sample_weight=weight)
        # calibration: origins inside the held-out window, every step whose target is known
        co = np.arange(max(cut - 1, 0), W - 1)
        crow = np.repeat(np.arange(len(self.series_)), len(co))
        ct = np.tile(co, len(self.series_))
        keep = ct >= win.first[crow] + min_history - 1
        cr, ctt, ck = sample_triples(crow[keep], ct[keep], cut=W, horizon=h, n=s.max_calibration_rows, rng=rng)
        Xc, lc = self._design(win, cr, ctt, ck)
        resid = win.mat[cr, ctt + ck] / lc - self.model_.predict(Xc)
        self.residuals_ = {int(j): resid[ck == j] for j in np.unique(ck)}
        self.pooled_ = resid if len(resid) else np.zeros(1)
        # the validation window: origin h columns before the end
        vrow = np.arange(len(self.series_))
        vt = np.full(len(vrow), W - 1 - h)
        ok = vt >= win.first + 1
        val = np.full((len(vrow), h), np.nan)
        if ok.any():
            kk = np.tile(np.arange(1, h + 1), int(ok.sum()))
            rr, tv = np.repeat(vrow[ok], h), np.repeat(vt[ok], h)
            Xv, lv = self._design(win, rr, tv, kk)
            val[ok] = (lv * self.model_.predict(Xv)).reshape(-1, h)
        if s.refit_full:
            rows, t = training_origins(win, cut=W, horizon=h, min_history=min_history)
            r, tt, k = sample_triples(rows, t, cut=W, horizon=h, n=s.max_train_rows, rng=rng)
            X, level = self._design(win, r, tt, k)
            self.model_ = self._regressor().fit(X, win.mat[r, tt + k] / level,
                                                sample_weight=self._weights(win, r, level, W))
        self._refresh(df)
        self._holdout = np.maximum(val, 0.0)

    def _weights(self, win: Windows, rows: np.ndarray, level: np.ndarray, cut: int) -> np.ndarray | None:
        """With `weight: mase`, each row's weight is its level over its series' mean absolute
        daily seasonal difference (before column `cut`): the scaled error the row's error
        becomes under MASE (clipped to the 1st..99th percentiles, mean 1)."""
        if self.settings.weight == "none":
            return None
        day = self.periods_["day"]
        head = win.mat[:, :cut]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scale = np.nanmean(np.abs(head[:, day:] - head[:, :-day]), axis=1) if cut > day else np.full(len(head), np.nan)
        scale = np.where(np.nan_to_num(scale) > 0, scale, np.nan)
        w = level / scale[rows]
        w = np.where(np.isfinite(w), w, np.nanmedian(w) if np.isfinite(w).any() else 1.0)
        lo, hi = np.percentile(w, [1, 99])
        w = np.clip(w, lo, hi)
        return w / w.mean()

    def _refresh(self, df: pd.DataFrame) -> None:
        win = self._windows()
        n, h = len(self.series_), self.horizon_
        rows = np.repeat(np.arange(n), h)
        t = np.full(n * h, win.width - 1)
        k = np.tile(np.arange(1, h + 1), n)
        X, level = self._design(win, rows, t, k)
        self.pred_ = self.model_.predict(X).reshape(n, h)
        self.level_ = level.reshape(n, h)[:, 0]
        self._holdout = None  # a new history: its held-out window was not forecast


    def _holdout_points(self) -> np.ndarray:
        return self._holdout if self._holdout is not None else super()._holdout_points()

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        pred = self.pred_[:, :h]
        point = self.level_[:, None] * pred
        offsets = np.vstack([
            np.quantile(r if len(r) >= MIN_STEP_RESIDUALS else self.pooled_, quantiles)
            for r in (self.residuals_.get(j, self.pooled_) for j in range(1, h + 1))
        ])  # (h, quantiles)
        qvals = self.level_[:, None, None] * (pred[:, :, None] + offsets[None, :, :])
        return point, qvals
