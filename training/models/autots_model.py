"""AutoTS behind the DarkHorse protocol: one AutoTS search over the panel (wide: weeks x series).

AutoTS runs a small genetic search over a bounded `model_list` and `transformer_list` for
`max_generations` generations, scores candidates on `num_validations` backward validation
windows, and refits the best one. Budget knobs: the model and transformer lists, the generations
and validations, and `max_series` (the series with the largest volume over the last 12 weeks;
the rest, and any series AutoTS cannot forecast, get `fallback`, a baseline fitted on the same
frame, counted in `n_fallback_`). Weeks before a series' first week are 0 in the wide frame.

Quantiles: AutoTS returns a point forecast and a `prediction_interval` band (default 0.8). The
band's edges are the (1 - p)/2 and (1 + p)/2 quantiles (q10 and q90 for p = 0.8), the point is
taken as q50, and other levels come from a split normal through those three values.

The forecasts of the `horizon` weeks (given to `fit`) are computed once at fit time and kept as arrays (so
`predict(h)` is their head and a saved model holds no AutoTS object). The chosen model, its
parameters and transformations are kept in `chosen_` (and `fit_info_`) for the run's records.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from scipy.stats import norm

from darkhorse.core.schema import DS, ID, Y
from training.lags import tail_stat
from training.models.base import ModelSettings, RowwiseForecaster
from training.models.fallback import FallbackName, fill_from_fallback, fit_fallback

log = logging.getLogger(__name__)

# AutoTS's "superfast" list: naive, seasonal naive, generalized least squares, motifs, linear
DEFAULT_MODELS = [
    "ConstantNaive", "LastValueNaive", "AverageValueNaive", "GLS", "SeasonalNaive",
    "SeasonalityMotif", "SectionalMotif", "BasicLinearModel",
]
DEFAULT_METRIC_WEIGHTING = {
    "smape_weighting": 1.0, "mae_weighting": 3.0, "rmse_weighting": 1.0, "spl_weighting": 3.0,
    "made_weighting": 0.0, "containment_weighting": 0.0, "runtime_weighting": 0.01,
}


class AutoTSSettings(ModelSettings):
    model_list: list[str] | str = Field(
        default_factory=lambda: list(DEFAULT_MODELS),
        description="AutoTS model names, or one of its named lists ('superfast', 'fast', ...).",
    )
    transformer_list: list[str] | str = Field("superfast", description="AutoTS transformer list.")
    transformer_max_depth: int = Field(2, ge=0, le=8)
    max_generations: int = Field(2, ge=0, le=100, description="Generations of the genetic search.")
    num_validations: int = Field(1, ge=0, le=10, description="Backward validation windows.")
    models_to_validate: float = Field(0.15, gt=0, le=1, description="Share of candidates validated.")
    prediction_interval: float = Field(0.8, gt=0, lt=1, description="Band AutoTS predicts.")
    metric_weighting: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_METRIC_WEIGHTING),
        description="AutoTS's score of candidates; the default leans on MAE and scaled pinball "
        "(what the backtest's MASE and pinball reward) instead of AutoTS's SMAPE-heavy default.",
    )
    max_series: int = Field(1000, ge=0, description="Largest series AutoTS forecasts; 0 = all.")
    min_weeks: int = Field(4, ge=1, description="Weeks the wide frame needs for AutoTS to run.")
    fallback: FallbackName = Field(
        "statquant", description="Model for the series AutoTS does not forecast."
    )
    n_jobs: int = Field(0, ge=0, description="AutoTS worker count; 0 = all cores.")
    seed: int = 0


class AutoTSForecaster(RowwiseForecaster):
    """An AutoTS search over the panel; intervals mapped to quantiles."""

    model_name = "autots"
    Settings = AutoTSSettings
    global_model = True
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"model_list": ["LastValueNaive", "AverageValueNaive", "SeasonalNaive"], "max_generations": 0,
                "num_validations": 1, "transformer_list": "superfast", "max_series": 20, "n_jobs": 2}

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        ids = self.last_ds_.index
        recent = tail_stat(df, 12, how="sum").reindex(ids, fill_value=0.0)  # units of the last 12 weeks
        order = recent.sort_values(ascending=False, kind="stable").index
        chosen = list(order if s.max_series == 0 else order[: s.max_series])
        wide = df[df[ID].isin(set(chosen))].pivot(index=DS, columns=ID, values=Y)
        wide = wide.reindex(pd.date_range(df[DS].min(), df[DS].max(), freq="7D")).fillna(0.0)
        wide = wide[sorted(wide.columns)]
        wide.index.name = None
        H = self.horizon_
        point = np.full((len(ids), H), np.nan)
        lower = np.full((len(ids), H), np.nan)
        upper = np.full((len(ids), H), np.nan)
        self.chosen_: dict[str, Any] = {}
        if len(wide) >= s.min_weeks and wide.shape[1] > 0:
            fc, lo, up, self.chosen_ = self._search(wide)
            pos = ids.get_indexer(fc.columns)
            point[pos] = fc.to_numpy().T
            lower[pos] = lo.to_numpy().T
            upper[pos] = up.to_numpy().T
        missing = ~np.isfinite(point).all(axis=1) | ~np.isfinite(lower).all(axis=1) | ~np.isfinite(upper).all(axis=1)
        self.fallback_ids_ = np.asarray(ids[missing]).astype(str)
        self.fallback_ = None
        if missing.any():
            self.fallback_ = fit_fallback(s.fallback, df)
        self.n_fallback_ = int(missing.sum())
        self.point_, self.lower_, self.upper_ = point, lower, upper
        self.fit_info_ = {**self.chosen_, "n_series_autots": int((~missing).sum()), "n_fallback": self.n_fallback_}

    def _search(self, wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
        from autots import AutoTS

        s = self.settings
        model = AutoTS(
            forecast_length=self.horizon_,
            frequency="W-MON" if wide.index[0].dayofweek == 0 else "infer",
            prediction_interval=s.prediction_interval,
            metric_weighting=dict(s.metric_weighting),
            max_generations=s.max_generations,
            no_negatives=True,
            ensemble=None,
            model_list=s.model_list,
            transformer_list=s.transformer_list,
            transformer_max_depth=s.transformer_max_depth,
            num_validations=s.num_validations,
            models_to_validate=s.models_to_validate,
            validation_method="backwards",
            random_seed=s.seed,
            n_jobs=s.n_jobs or (os.cpu_count() or 1),
            verbose=0,
        )
        sink = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            model = model.fit(wide)
            pred = model.predict(forecast_length=self.horizon_)
        chosen = {
            "best_model": str(model.best_model_name),
            "best_model_params": _jsonable(model.best_model_params),
            "best_model_transformation": _jsonable(model.best_model_transformation_params),
            "models_tried": int(model.initial_results.model_results.shape[0]),
        }
        fc = pred.forecast.clip(lower=0.0)
        lo = np.minimum(pred.lower_forecast.clip(lower=0.0), fc)
        up = np.maximum(pred.upper_forecast, fc)
        return fc, lo, up, chosen

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        s, rows = self.settings, self._rows(only)
        point, lower, upper = self.point_[rows, :h], self.lower_[rows, :h], self.upper_[rows, :h]
        z_edge = norm.ppf(0.5 + s.prediction_interval / 2)
        qvals = np.empty((len(point), h, len(quantiles)))
        for j, q in enumerate(quantiles):
            z = norm.ppf(q) / z_edge
            qvals[:, :, j] = np.where(z < 0, point + z * (point - lower), point + z * (upper - point))
        point = point.copy()
        if self.fallback_ is not None:
            fill_from_fallback(self.fallback_, self.fallback_ids_, self._last(only), h, quantiles, point, qvals)
        return point, qvals


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, str | int | float | bool):
        return x
    return str(x)
