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

With `scaling: seasonal` every input and the target are the load less the level over
the window's seasonal spread (`Windows.seasonal_scale`: the mean day-apart absolute change over
its last `scale_days` days), with the log of spread over level as one more input: a smooth
series and a noisy one of the same level stop looking alike, and an absolute error of the
scaled target is close to the row's share of its series' MASE. `n_boosters` > 1 trains that
many boosters, each on its own sample of rows, and averages them.

`refresh(df)` reads new windows (the streaming buffer) with the trained booster: nothing is
refitted, the forecast of a series that moved to a new level follows that level.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from training.device import cpu_threads, xgboost_device
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
    scaling: Literal["level", "seasonal"] = Field(
        "level", description="Window scaling: over its level, or its level removed and over its seasonal spread."
    )
    scale_days: int = Field(7, ge=1, le=28, description="Days behind the seasonal spread (scaling: seasonal).")
    calendar: bool = Field(True, description="The target's minute of day and day of week as inputs.")
    max_train_rows: int = Field(300_000, ge=100, description="(series, origin, step) rows sampled for training.")
    max_calibration_rows: int = Field(200_000, ge=100, description="Held-out rows behind the quantiles.")
    weight: Literal["none", "mase"] = Field(
        "none", description="Row weights: none, or level over the series' daily seasonal MAE (MASE's scale)."
    )
    n_boosters: int = Field(
        1, ge=1, le=16, description="Boosters on independent row samples (seeds seed, seed+1, ...), averaged."
    )
    refit_full: bool = Field(False, description="Train again on every row (the held-out window too) for the forecast.")
    n_jobs: int = Field(
        0, ge=0, description="Threads; 0 = every core (or DARKHORSE_THREADS: training.device.cpu_threads). The trees "
        "are the same whatever the count.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


class XGBoostLoad(LoadForecaster):
    Settings = XGBoostLoadSettings
    name = "xgboost"
    conditional = True

    # ------------------------------------------------------------------ design
    def _design(
        self, win: Windows, rows: np.ndarray, t: np.ndarray, k: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs of rows (series, origin t, step k), and the window's centre and scale: the
        target is (y - centre) / scale, the forecast centre + scale x prediction."""
        s = self.settings
        day, week = self.periods_["day"], self.periods_["week"]
        level = win.level(rows, t)
        if s.scaling == "seasonal":
            center, scale = level, win.seasonal_scale(rows, t, s.scale_days * day)
        else:
            center, scale = np.zeros_like(level), level

        def norm(x: np.ndarray) -> np.ndarray:
            return (x - center.reshape(-1, *[1] * (x.ndim - 1))) / scale.reshape(-1, *[1] * (x.ndim - 1))

        cols = [norm(win.block(rows, t, s.n_lags)[:, ::-1])]  # lag 0 first
        for m, n in ((day, s.day_lags), (week, s.week_lags)):
            if n:
                back = m * np.ceil(k / m).astype(np.int64)
                idx = (t + k - back)[:, None] - m * np.arange(n)[None, :]
                phase = norm(win.at(rows[:, None], idx))
                cols.append(phase)
                if n > 1:  # the phase's mean and median over those days or weeks
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
                        cols.append(np.column_stack([np.nanmean(phase, axis=1), np.nanmedian(phase, axis=1)]))
        extra = [
            norm(win.window_mean(rows, t, day)),
            norm(win.window_mean(rows, t, week)),
            np.nanstd(win.block(rows, t, min(day, 288)), axis=1) / scale,
            np.log1p(level),
            k.astype("float64"),
        ]
        if s.scaling == "seasonal":
            extra.append(np.log(scale / level))  # the window's noise relative to its level
        if s.calendar:
            delta = step(self.freq_)
            target = self.end_ns_[rows] + (t + k - (win.width - 1)) * delta.value
            minutes = (target // 60_000_000_000) % 1440
            dow = (target // 86_400_000_000_000 + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
            extra += [minutes.astype("float64"), dow.astype("float64")]
        X = np.column_stack([*cols, np.column_stack(extra)])
        return X.astype("float32"), center, scale

    def _regressor(self, seed: int):
        import xgboost as xgb

        s = self.settings
        return xgb.XGBRegressor(
            n_estimators=s.n_estimators, max_depth=s.max_depth, learning_rate=s.learning_rate,
            subsample=s.subsample, colsample_bytree=s.colsample_bytree, min_child_weight=s.min_child_weight,
            objective=f"reg:{s.objective}", tree_method="hist", max_bin=128,
            device=xgboost_device(s.device), n_jobs=cpu_threads(s.n_jobs), random_state=seed, verbosity=0,
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
        self.boosters_ = self._train(win, rows, t, cut, rng)
        # calibration: origins inside the held-out window, every step whose target is known
        co = np.arange(max(cut - 1, 0), W - 1)
        crow = np.repeat(np.arange(len(self.series_)), len(co))
        ct = np.tile(co, len(self.series_))
        keep = ct >= win.first[crow] + min_history - 1
        cr, ctt, ck = sample_triples(crow[keep], ct[keep], cut=W, horizon=h, n=s.max_calibration_rows, rng=rng)
        Xc, cc, sc = self._design(win, cr, ctt, ck)
        resid = (win.mat[cr, ctt + ck] - cc) / sc - self._raw(Xc)
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
            Xv, cv, sv = self._design(win, rr, tv, kk)
            val[ok] = (cv + sv * self._raw(Xv)).reshape(-1, h)
        if s.refit_full:
            rows, t = training_origins(win, cut=W, horizon=h, min_history=min_history)
            self.boosters_ = self._train(win, rows, t, W, rng)
        self._refresh(df)
        self._holdout = np.maximum(val, 0.0)

    def _train(self, win: Windows, rows: np.ndarray, t: np.ndarray, cut: int, rng: np.random.Generator) -> list:
        """`n_boosters` boosters, each on its own sample of (series, origin, step) rows with
        targets before column `cut` (the first drawn from `rng`, the others from their own
        seeds, so that one booster is the same model whatever `n_boosters`)."""
        s, h = self.settings, self.horizon_
        out = []
        for i in range(s.n_boosters):
            draw = rng if i == 0 else np.random.default_rng([s.seed, i])
            r, tt, k = sample_triples(rows, t, cut=cut, horizon=h, n=s.max_train_rows, rng=draw)
            X, center, scale = self._design(win, r, tt, k)
            target = (win.mat[r, tt + k] - center) / scale
            out.append(self._regressor(s.seed + i).fit(X, target, sample_weight=self._weights(win, r, scale, cut)))
        return out

    def _raw(self, X: np.ndarray) -> np.ndarray:
        """The boosters' mean prediction of the scaled target."""
        return np.mean([b.predict(X) for b in self.boosters_], axis=0)

    def _weights(self, win: Windows, rows: np.ndarray, scale: np.ndarray, cut: int) -> np.ndarray | None:
        """With `weight: mase`, each row's weight is its window's scale over its series' mean
        absolute daily seasonal difference (before column `cut`): the scaled error the row's
        error becomes under MASE (clipped to the 1st..99th percentiles, mean 1)."""
        if self.settings.weight == "none":
            return None
        day = self.periods_["day"]
        head = win.mat[:, :cut]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mase = np.nanmean(np.abs(head[:, day:] - head[:, :-day]), axis=1) if cut > day else np.full(len(head), np.nan)
        mase = np.where(np.nan_to_num(mase) > 0, mase, np.nan)
        w = scale / mase[rows]
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
        X, center, scale = self._design(win, rows, t, k)
        self.pred_ = self._raw(X).reshape(n, h)
        self.center_, self.scale_ = center.reshape(n, h)[:, 0], scale.reshape(n, h)[:, 0]
        self._holdout = None  # a new history: its held-out window was not forecast

    def _holdout_points(self) -> np.ndarray:
        return self._holdout if self._holdout is not None else super()._holdout_points()

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        pred = self.pred_[:, :h]
        point = self.center_[:, None] + self.scale_[:, None] * pred
        offsets = np.vstack([
            np.quantile(r if len(r) >= MIN_STEP_RESIDUALS else self.pooled_, quantiles)
            for r in (self.residuals_.get(j, self.pooled_) for j in range(1, h + 1))
        ])  # (h, quantiles)
        qvals = self.center_[:, None, None] + self.scale_[:, None, None] * (pred[:, :, None] + offsets[None, :, :])
        return point, qvals
