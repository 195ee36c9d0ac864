"""Statistical members from statsforecast: exponential smoothing, theta, MSTL and the
intermittent-demand methods (Croston SBA, TSB, ADIDA, IMAPA).

Each is local (one model per series, fitted in parallel by statsforecast) and computes its
forecasts for the horizon given to `fit` once, at fit time (kept as arrays, so prediction and
persistence need no statsforecast objects). Series shorter than `min_weeks`, or that a method
cannot fit, take the configured fallback baseline.

Quantiles are empirical (conformal-style) from the series' own in-sample one-step residuals
(its last `residual_weeks`), widened with the step as sqrt(k) for the methods that carry a
trend or season (ETS, theta, MSTL) and kept flat for the intermittent ones (their forecast is a
level); a series with fewer than `min_residuals` residuals takes the residuals pooled over all
series, relative to each series' level. The blend recalibrates widths on its own validation.

Seasonal fits need the season twice: `Theta`, `AutoTheta` and `MSTL` use `season_length` only
for series with at least two seasons of history and fit the others without a season
(non-seasonal ETS for MSTL's trend). Seasonal ETS is left out: about 100 s per 1,000 weekly
series on 2 cores.

`max_weeks` fits a method on each series' latest weeks only. The theta member (dynamic optimised
theta, the default member) keeps the last four seasons: on M4 Weekly's series of up to 2,600
weeks that takes it from minutes to seconds, and the level and season it reads stay current.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.schema import DS, ID, Y
from training.models.base import ModelSettings, RowwiseForecaster, row_nanquantile
from training.models.fallback import FallbackName, fill_from_fallback, fit_fallback

log = logging.getLogger(__name__)

POINT = "point"


class StatsSettings(ModelSettings):
    season_length: int = Field(52, ge=2, description="Weeks in a season (seasonal methods).")
    min_weeks: int = Field(8, ge=3, description="Weeks a series needs; shorter ones take the fallback.")
    residual_weeks: int = Field(52, ge=4, description="Latest in-sample residuals kept for the quantiles.")
    min_residuals: int = Field(12, ge=2, description="Own residuals a series needs; fewer = pooled.")
    max_weeks: int | None = Field(
        None, ge=8, description="Fit on each series' latest weeks only (None: its whole history)."
    )
    fallback: FallbackName = "moving_average"
    n_jobs: int = Field(0, ge=0, description="Processes; 0 = all cores.")


class StatsForecaster(RowwiseForecaster):
    """A statsforecast method behind the protocol (subclasses name the method)."""

    Settings = StatsSettings
    fixed_horizon = True
    # the forecast is a level (intermittent methods): intervals do not widen with the step
    flat: ClassVar[bool] = False
    # the method uses the season, and needs it twice in a series' history
    seasonal: ClassVar[bool] = False

    def _method(self, season: int | None) -> Any:
        raise NotImplementedError

    def _run(self, df: pd.DataFrame, season: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        from statsforecast import StatsForecast

        model = self._method(season)
        n_jobs = self.settings.n_jobs or (os.cpu_count() or 1)
        n_jobs = max(1, min(n_jobs, df[ID].nunique() // 50 or 1))
        sf = StatsForecast(models=[model], freq="7D", n_jobs=n_jobs)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fc = sf.forecast(h=self.horizon_, df=df, fitted=True)
            fitted = sf.forecast_fitted_values()
        name = next(c for c in fc.columns if c not in (ID, DS))
        fc = fc.rename(columns={name: POINT})
        fitted = fitted.rename(columns={name: POINT})
        return fc, fitted

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        h = self.horizon_
        data = df[[ID, DS, Y]]
        if s.max_weeks is not None:
            data = data.sort_values([ID, DS], kind="stable").groupby(ID, sort=False).tail(s.max_weeks)
        ids = self.last_ds_.index
        lengths = data.groupby(ID, sort=True).size().reindex(ids)
        ok = lengths >= s.min_weeks
        groups = []
        if self.seasonal:
            long = lengths >= 2 * s.season_length
            groups = [(ok & long, s.season_length), (ok & ~long, None)]
        else:
            groups = [(ok, None)]
        point = np.full((len(ids), h), np.nan)
        resid = np.full((len(ids), s.residual_weeks), np.nan)
        for sel, season in groups:
            chosen = ids[sel.to_numpy()]
            if not len(chosen):
                continue
            part = data[data[ID].isin(set(chosen))]
            try:
                fc, fitted = self._run(part, season)
            except Exception as e:  # statsforecast raises plain errors on degenerate groups
                log.warning("%s: %d series fall back (%s)", self.alias, len(chosen), e)
                continue
            rows = ids.get_indexer(fc[ID].to_numpy())
            steps = fc.groupby(ID, sort=False).cumcount().to_numpy()
            point[rows, steps] = fc[POINT].to_numpy(dtype="float64")
            r = (fitted[Y] - fitted[POINT]).to_numpy(dtype="float64")
            from_end = fitted.groupby(ID, sort=False).cumcount(ascending=False).to_numpy()
            keep = from_end < s.residual_weeks
            rrows = ids.get_indexer(fitted[ID].to_numpy())
            resid[rrows[keep], s.residual_weeks - 1 - from_end[keep]] = r[keep]
        missing = ~np.isfinite(point).all(axis=1)
        self.fallback_ids_ = np.asarray(ids[missing]).astype(str)
        self.fallback_ = fit_fallback(s.fallback, df) if missing.any() else None
        self.point_ = np.clip(np.nan_to_num(point, nan=0.0), 0.0, None)
        self.resid_ = resid
        last = data.groupby(ID, sort=True)[Y].apply(lambda y: y.tail(13).mean()).reindex(ids).to_numpy()
        self.level_ = np.maximum(np.nan_to_num(last), 1e-3)
        self.fit_info_ = {"n_fallback": int(missing.sum())}

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        rows = self._rows(only)
        qs = np.asarray(quantiles)
        point, r, level = self.point_[rows, :h].copy(), self.resid_[rows], self.level_[rows]
        own_ok = np.isfinite(r).sum(axis=1) >= s.min_residuals
        offsets = np.zeros((len(point), len(qs)))
        if own_ok.any():
            offsets[own_ok] = row_nanquantile(r[own_ok], qs)
        if not own_ok.all():
            # the pooled offsets come from every series' residuals (computed only where a row
            # needs them: a what-if about a few long series skips a pass over the catalogue)
            rel = self.resid_ / self.level_[:, None]
            pooled_rel = rel[np.isfinite(rel)]
            pooled = np.quantile(pooled_rel, qs) if pooled_rel.size else np.zeros(len(qs))
            offsets[~own_ok] = pooled[None, :] * level[~own_ok, None]
        widen = np.ones(h) if self.flat else np.sqrt(np.arange(1, h + 1))
        qvals = point[:, :, None] + offsets[:, None, :] * widen[None, :, None]
        qvals = np.sort(np.clip(qvals, 0.0, None), axis=2)
        if self.fallback_ is not None:
            fill_from_fallback(self.fallback_, self.fallback_ids_, self._last(only), h, quantiles, point, qvals)
        return point, qvals


class AutoETSForecaster(StatsForecaster):
    """AutoETS (non-seasonal: error, trend and damping chosen by AICc per series)."""

    model_name = "autoets"

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=1)


class AutoThetaForecaster(StatsForecaster):
    """AutoTheta: seasonally adjusted (season 52, where two seasons are known) theta method."""

    model_name = "autotheta"
    seasonal = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=season or 1)


class ThetaSettings(StatsSettings):
    max_weeks: int | None = Field(208, ge=8, description="Fit on each series' latest weeks only (None: all).")
    variant: Literal["dotm", "otm", "dstm", "stm"] = Field(
        "dotm", description="Dynamic optimised (dotm), optimised (otm), dynamic standard (dstm) or standard (stm) theta."
    )


class ThetaForecaster(StatsForecaster):
    """One theta method (dynamic optimised by default) on the latest `max_weeks` weeks,
    seasonally adjusted (season 52) where two seasons are kept: AutoTheta's best variant on the
    suite at a fraction of its cost (AutoTheta fits all four per series)."""

    model_name = "theta"
    Settings = ThetaSettings
    seasonal = True

    def _method(self, season: int | None) -> Any:
        from statsforecast import models as sm

        cls = {"dotm": sm.DynamicOptimizedTheta, "otm": sm.OptimizedTheta,
               "dstm": sm.DynamicTheta, "stm": sm.Theta}[self.settings.variant]
        return cls(season_length=season or 1)


class MSTLForecaster(StatsForecaster):
    """MSTL: season 52 removed by STL, non-seasonal ETS on the rest, where two seasons are
    known; non-seasonal ETS on the other series."""

    model_name = "mstl"
    seasonal = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import MSTL, AutoETS

        if season is None:
            return AutoETS(season_length=1)
        return MSTL(season_length=season, trend_forecaster=AutoETS(model="ZZN"))


class CrostonSBAForecaster(StatsForecaster):
    """Croston with the Syntetos-Boylan bias correction (intermittent demand)."""

    model_name = "croston_sba"
    flat = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import CrostonSBA

        return CrostonSBA()


class TSBSettings(StatsSettings):
    alpha_d: float = Field(0.1, gt=0, le=1, description="Smoothing of the demand size.")
    alpha_p: float = Field(0.1, gt=0, le=1, description="Smoothing of the demand probability.")


class TSBForecaster(StatsForecaster):
    """Teunter-Syntetos-Babai: demand probability updated every week, so dying items fade."""

    model_name = "tsb"
    Settings = TSBSettings
    flat = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import TSB

        return TSB(alpha_d=self.settings.alpha_d, alpha_p=self.settings.alpha_p)


class ADIDAForecaster(StatsForecaster):
    """ADIDA: temporal aggregation at the mean inter-demand interval, then SES."""

    model_name = "adida"
    flat = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import ADIDA

        return ADIDA()


class IMAPAForecaster(StatsForecaster):
    """IMAPA: ADIDA over several aggregation levels, averaged."""

    model_name = "imapa"
    flat = True

    def _method(self, season: int | None) -> Any:
        from statsforecast.models import IMAPA

        return IMAPA()
