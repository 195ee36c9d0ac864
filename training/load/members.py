"""Load forecasters: settings in the constructor, data and grain in `fit`.

`fit(df, *, freq, horizon)` takes a regular long frame `unique_id, ds, y` at `freq` (see
`frame.validate_intervals`) and the horizon it will be asked for; `predict(*, h, quantiles)`
returns `unique_id, ds, <alias>, <alias>-qNN...` for the `h` intervals after each series' end,
quantiles sorted and clipped at 0 (a load is never negative).

* `seasonal_naive`: the same interval one period earlier (`period: day | week`, in intervals of
  the grain; a series shorter than a period plus one takes the last value). Quantiles are the
  point plus the empirical quantiles of the series' own errors at that lag (y_t - y_{t-L} over
  its last `window_periods` periods): for steps up to a period, exactly the forecast's error.
* `mstl`: statsforecast MSTL with the daily and weekly seasons (each kept only when the series
  holds it twice) and an AutoETS trend; without a season, AutoETS alone. Quantiles: the point
  plus the empirical quantiles of the errors of a second fit on the history less its last day
  (or horizon, if longer) over that held-out day, the same at every step. The method's own
  intervals, and in-sample errors, are too narrow: the seasons absorb part of the noise (a
  90% interval held about 70% of clean seasonal data). The replay reports how often the load
  lands above q95.
* `quantile_average`: the equal-weight average of members' quantiles (each level averaged);
  the load ensemble learns its weights instead (`training.load.blend`).
* `xgboost` (`training.load.gbm`), `lstm` (`training.load.lstm`) and `ensemble`
  (`training.load.blend`) are registered here and imported on first use.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkhorse.core.schema import DS, ID, Y, check_quantiles, quantile_columns
from training.load.frame import LoadFrameError, periods, step, validate_intervals


class LoadSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadForecaster:
    """Base class: validation and output shape; subclasses implement `_fit` and `_predict`.

    `refresh(df)` points a fitted model at a newer history of its series (the streaming
    buffer): global models (`conditional`) keep what they learned and only read the new
    windows; the others are fitted again. `validation()` gives each series' last `horizon`
    intervals as forecast by a fit that did not see them (the blend's held-out window).
    """

    Settings: ClassVar[type[LoadSettings]] = LoadSettings
    name: ClassVar[str] = "load"
    conditional: ClassVar[bool] = False

    def __init__(self, *, alias: str | None = None, **params: Any) -> None:
        try:
            self.settings = self.Settings(**params)
        except ValidationError as e:
            raise LoadFrameError(f"load model {self.name!r}: invalid params: {e.errors()[0]['msg']}") from None
        self.alias = alias or self.name
        self.fitted_ = False

    def fit(self, df: pd.DataFrame, *, freq: str, horizon: int) -> LoadForecaster:
        if int(horizon) < 1:
            raise LoadFrameError(f"load model {self.alias!r}: horizon must be at least 1, got {horizon}")
        data = validate_intervals(df, freq)
        self.freq_, self.horizon_ = freq, int(horizon)
        self.periods_ = periods(freq)
        self._read(data)
        self._fit(data)
        self.fitted_ = True
        return self

    def _read(self, data: pd.DataFrame) -> None:
        self.ids_ = pd.Index(data[ID].unique())
        self.last_ds_ = data.groupby(ID, sort=False)[DS].max().reindex(self.ids_)
        self.series_ = [g.to_numpy(dtype="float64") for _, g in data.groupby(ID, sort=False)[Y]]
        self._validation: np.ndarray | None = None

    def refresh(self, df: pd.DataFrame) -> LoadForecaster:
        """A copy of this fitted model that forecasts from `df` (a newer history, same grain):
        conditional models keep their learned state, the others are fitted on `df`."""
        if not self.fitted_:
            raise LoadFrameError(f"load model {self.alias!r} must be fitted before refresh")
        return self._refreshed(validate_intervals(df, self.freq_))

    def _refreshed(self, data: pd.DataFrame) -> LoadForecaster:
        """`refresh` on a frame already validated at the model's grain."""
        out = copy.copy(self)
        out._read(data)
        if self.conditional:
            out._refresh(data)
        else:
            out._fit(data)
        return out

    def _refresh(self, data: pd.DataFrame) -> None:
        raise NotImplementedError

    def validation(self) -> np.ndarray:
        """(series, horizon): each series' last `horizon` intervals forecast by a fit on the
        history less them (NaN for a series too short to hold them out)."""
        if not self.fitted_:
            raise LoadFrameError(f"load model {self.alias!r} must be fitted before validation")
        if self._validation is None:
            self._validation = self._holdout_points()
        return self._validation

    def _holdout_points(self) -> np.ndarray:
        """By default: a fresh model of the same settings fitted on the truncated series."""
        h = self.horizon_
        out = np.full((len(self.series_), h), np.nan)
        keep = [i for i, y in enumerate(self.series_) if len(y) > h + 1]
        if not keep:
            return out
        delta = step(self.freq_)
        frame = pd.concat(
            [
                pd.DataFrame({
                    ID: self.ids_[i],
                    DS: pd.date_range(end=self.last_ds_.iloc[i] - h * delta, periods=len(self.series_[i]) - h,
                                      freq=self.freq_),
                    Y: self.series_[i][:-h],
                })
                for i in keep
            ],
            ignore_index=True,
        )
        model = type(self)(alias="v", **self.settings.model_dump()).fit(frame, freq=self.freq_, horizon=h)
        fc = model.predict(h=h, quantiles=[0.5])
        out[keep] = fc["v"].to_numpy().reshape(len(keep), h)
        return out

    def predict(self, *, h: int, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> pd.DataFrame:
        if not self.fitted_:
            raise LoadFrameError(f"load model {self.alias!r} must be fitted before predict")
        if not 1 <= int(h) <= self.horizon_:
            raise LoadFrameError(f"load model {self.alias!r} was fitted for h <= {self.horizon_}, asked {h}")
        qs = check_quantiles(quantiles)
        point, qvals = self._clean_predict(int(h), qs)
        delta = step(self.freq_)
        out = pd.DataFrame(
            {
                ID: np.repeat(self.ids_.to_numpy(), h),
                DS: (np.repeat(self.last_ds_.to_numpy(), h) + np.tile(np.arange(1, h + 1), len(self.ids_)) * delta),
                self.alias: point.reshape(-1),
            }
        )
        for j, col in enumerate(quantile_columns(self.alias, qs)):
            out[col] = qvals[:, :, j].reshape(-1)
        return out

    def _clean_predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """(series, h) points and (series, h, quantiles) values, clipped at 0, levels sorted."""
        point, qvals = self._predict(h, quantiles)
        return np.maximum(point, 0.0), np.sort(np.maximum(qvals, 0.0), axis=2)

    def _fit(self, df: pd.DataFrame) -> None:
        raise NotImplementedError

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class SeasonalNaiveSettings(LoadSettings):
    period: Literal["day", "week"] = Field("day", description="The season: a day or a week of intervals.")
    window_periods: int = Field(4, ge=1, description="Periods of past errors behind the quantiles.")


class SeasonalNaive(LoadForecaster):
    Settings = SeasonalNaiveSettings
    name = "seasonal_naive"

    def _fit(self, df: pd.DataFrame) -> None:
        self.m_ = self.periods_[self.settings.period]

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        point = np.empty((len(self.series_), h))
        qvals = np.empty((len(self.series_), h, len(quantiles)))
        k = np.arange(1, h + 1)
        for i, y in enumerate(self.series_):
            m = self.m_ if len(y) > self.m_ else 1
            lag = m * np.ceil(k / m).astype(int)  # the latest observed interval of the same phase
            point[i] = y[len(y) - lag + k - 1]
            for L in np.unique(lag):
                errors = (y[L:] - y[:-L])[-self.settings.window_periods * m :] if len(y) > L else np.zeros(1)
                at = lag == L
                qvals[i, at] = point[i, at, None] + np.quantile(errors, quantiles)[None, :]
        return point, qvals


class MSTLSettings(LoadSettings):
    seasons: list[Literal["day", "week"]] = Field(
        default_factory=lambda: ["day", "week"], description="Seasons to remove (each needs two in the history)."
    )
    max_history_periods: int = Field(
        8, ge=2, description="Fit on the last this-many longest seasons at most (cost grows with length)."
    )


class MSTL(LoadForecaster):
    Settings = MSTLSettings
    name = "mstl"

    def _fit(self, df: pd.DataFrame) -> None:
        self.points_: list[np.ndarray] = []
        self.residuals_: list[np.ndarray] = []
        self.holdout_: list[np.ndarray] = []
        holdout = max(self.horizon_, self.periods_["day"])
        for sid, y in zip(self.ids_, self.series_, strict=True):
            seasons = self._seasons(len(y))
            keep = self.settings.max_history_periods * max(seasons) if seasons else len(y)
            y = y[-keep:]
            self.points_.append(self._forecast(sid, y, seasons, self.horizon_))
            # errors on the last `holdout` intervals of a fit that did not see them: in-sample
            # errors understate them (the seasons absorb part of the noise)
            if len(y) - holdout >= 2 * (max(seasons) if seasons else 4):
                head = y[:-holdout]
                held = self._forecast(sid, head, self._seasons(len(head)), holdout)
                errors = y[-holdout:] - held
                if holdout == self.horizon_:  # the blend's held-out window, at no extra cost
                    self.holdout_.append(held)
            else:
                errors = np.diff(y) if len(y) > 1 else np.zeros(1)
            self.residuals_.append(errors)

    def _holdout_points(self) -> np.ndarray:
        if len(self.holdout_) == len(self.series_):
            return np.vstack(self.holdout_)
        return super()._holdout_points()

    def _seasons(self, n: int) -> list[int]:
        return [self.periods_[s] for s in self.settings.seasons if n >= 2 * self.periods_[s]]

    def _forecast(self, sid: str, y: np.ndarray, seasons: list[int], h: int) -> np.ndarray:
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL as _MSTL
        from statsforecast.models import AutoETS

        model = (
            _MSTL(season_length=sorted(seasons), trend_forecaster=AutoETS(model="ZZN"), alias="m")
            if seasons
            else AutoETS(model="ZZN", alias="m")
        )
        end = self.last_ds_[sid] - (len(self.series_[self.ids_.get_loc(sid)]) - 1) * step(self.freq_)
        frame = pd.DataFrame({ID: sid, DS: pd.date_range(start=end, periods=len(y), freq=self.freq_), Y: y})
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fc = StatsForecast(models=[model], freq=self.freq_, n_jobs=1).forecast(df=frame, h=h)
        return np.nan_to_num(fc["m"].to_numpy(dtype="float64"), nan=float(y[-1]))

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        point = np.vstack([p[:h] for p in self.points_])
        spread = np.vstack([np.quantile(r, quantiles) for r in self.residuals_])  # (series, quantiles)
        return point, point[:, :, None] + spread[:, None, :]


# name -> "module:class"; each module imported on first use (xgboost, torch stay unloaded)
MEMBERS: dict[str, str] = {
    "seasonal_naive": "training.load.members:SeasonalNaive",
    "mstl": "training.load.members:MSTL",
    "xgboost": "training.load.gbm:XGBoostLoad",
    "lstm": "training.load.lstm:LSTMLoad",
    "ensemble": "training.load.blend:LoadEnsemble",
}


def model_class(name: str) -> type[LoadForecaster]:
    if name not in MEMBERS:
        raise LoadFrameError(f"unknown load model {name!r}; known: {sorted(MEMBERS)}")
    module, cls = MEMBERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, *, alias: str | None = None, **params: Any) -> LoadForecaster:
    return model_class(name)(alias=alias, **params)


def quantile_average(forecasts: Sequence[pd.DataFrame], members: Sequence[str], *, alias: str = "ensemble",
                     quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> pd.DataFrame:
    """The equal-weight average of the members' points and of each quantile level."""
    if not forecasts:
        raise LoadFrameError("quantile_average needs at least one member forecast")
    qs = check_quantiles(quantiles)
    base = forecasts[0][[ID, DS]].reset_index(drop=True)
    for f in forecasts[1:]:
        if not f[[ID, DS]].reset_index(drop=True).equals(base):
            raise LoadFrameError("quantile_average: member forecasts cover different (unique_id, ds) rows")
    out = base.copy()
    out[alias] = np.mean([f[m].to_numpy() for f, m in zip(forecasts, members, strict=True)], axis=0)
    for q, col in zip(qs, quantile_columns(alias, qs), strict=True):
        cols = [quantile_columns(m, [q])[0] for m in members]
        out[col] = np.mean([f[c].to_numpy() for f, c in zip(forecasts, cols, strict=True)], axis=0)
    return out
