"""The load ensemble: member weights learned on held-out windows.

Every fitted member gives `validation()`: each series' last `horizon` intervals as forecast
by a fit that did not see them. The weights are the point on the simplex (a grid of `step`)
with the lowest mean scaled error over those windows, each series' error scaled by the mean
absolute error of its daily seasonal naive on the history before the window (MASE, as the
M4 guide scales hourly series; by its level where its history repeats exactly), then shrunk towards equal weights by `shrinkage` (one held-out
window is a small sample: a member that wins it by luck keeps part of the others). Series
that some member could not hold out are left out; with none left the weights are equal.

Points and every quantile level are the weighted averages of the members' (the equal-weight
`quantile_average` is the special case).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from darkhorse.core.schema import DS, ID, check_quantiles, quantile_columns
from training.load.frame import LoadFrameError
from training.load.members import LoadForecaster, LoadSettings, create


def _simplex(m: int, step: float) -> np.ndarray:
    n = round(1 / step)
    rows = [c for c in itertools.product(range(n + 1), repeat=m - 1) if sum(c) <= n]
    grid = np.array([[*c, n - sum(c)] for c in rows], dtype="float64") / n
    return grid


def held_out_scale(series: Sequence[np.ndarray], horizon: int, period: int) -> np.ndarray:
    """Per series: the mean |y_t - y_{t-period}| over the history before its last `horizon`
    intervals (the one-step naive's where that history is shorter than a period); NaN where
    that history repeats itself exactly (rounding noise is no scale)."""
    out = np.full(len(series), np.nan)
    for i, y in enumerate(series):
        head = y[:-horizon]
        lag = period if len(head) > period else 1
        if len(head) > lag:
            out[i] = np.mean(np.abs(head[lag:] - head[:-lag]))
            if out[i] <= 1e-9 * np.mean(np.abs(head)):  # a history that repeats exactly: no scale
                out[i] = np.nan
    return out


def learn_weights(
    models: Mapping[str, LoadForecaster], *, shrinkage: float = 0.2, step: float = 0.05
) -> dict[str, float]:
    """Weights per member (summing to 1) from the members' held-out windows."""
    names = list(models)
    if not names:
        raise LoadFrameError("learn_weights needs at least one fitted member")
    if len(names) == 1:
        return {names[0]: 1.0}
    first = models[names[0]]
    h, series = first.horizon_, first.series_
    period = first.periods_["day"]
    val = np.stack([models[n].validation() for n in names])  # (members, series, h)
    actual = np.full((len(series), h), np.nan)
    for i, y in enumerate(series):
        if len(y) > h:
            actual[i] = y[-h:]
    scale = held_out_scale(series, h, period)
    # a series without a seasonal scale (its history repeats exactly) is scaled by its level
    level = np.array([np.mean(np.abs(y[:-h])) if len(y) > h else np.nan for y in series])
    scale = np.where(np.isfinite(scale), scale, level)
    ok = np.isfinite(val).all(axis=(0, 2)) & np.isfinite(actual).all(axis=1) & (np.nan_to_num(scale) > 0)
    equal = {n: 1.0 / len(names) for n in names}
    if not ok.any():
        return equal
    v = val[:, ok, :].reshape(len(names), -1)  # (members, cells)
    a = actual[ok].reshape(-1)
    w_cell = np.repeat(1.0 / scale[ok], h) / ok.sum() / h  # mean over series of each one's mean scaled error
    grid = _simplex(len(names), step) if len(names) <= 6 else np.eye(len(names))
    loss = np.abs(grid @ v - a[None, :]) @ w_cell
    best = grid[int(np.argmin(loss))]
    w = (1 - shrinkage) * best + shrinkage / len(names)
    return {n: float(x) for n, x in zip(names, w, strict=True)}


def combine(
    forecasts: Sequence[pd.DataFrame], members: Sequence[str], weights: Sequence[float], *,
    alias: str = "ensemble", quantiles: Sequence[float] = (0.1, 0.5, 0.9),
) -> pd.DataFrame:
    """The weighted average of the members' points and of each quantile level."""
    if not forecasts:
        raise LoadFrameError("combine needs at least one member forecast")
    qs = check_quantiles(quantiles)
    w = np.asarray(weights, dtype="float64")
    w = w / w.sum()
    base = forecasts[0][[ID, DS]].reset_index(drop=True)
    for f in forecasts[1:]:
        if not f[[ID, DS]].reset_index(drop=True).equals(base):
            raise LoadFrameError("combine: member forecasts cover different (unique_id, ds) rows")
    out = base.copy()
    out[alias] = np.tensordot(w, [f[m].to_numpy() for f, m in zip(forecasts, members, strict=True)], axes=1)
    for q, col in zip(qs, quantile_columns(alias, qs), strict=True):
        cols = [quantile_columns(m, [q])[0] for m in members]
        out[col] = np.tensordot(w, [f[c].to_numpy() for f, c in zip(forecasts, cols, strict=True)], axes=1)
    return out


class MemberSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    alias: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.alias or self.model


def default_members() -> list[MemberSpec]:
    return [
        MemberSpec(model="seasonal_naive", alias="seasonal_naive_day", params={"period": "day"}),
        MemberSpec(model="seasonal_naive", alias="seasonal_naive_week", params={"period": "week"}),
        MemberSpec(model="xgboost"),
    ]


class EnsembleSettings(LoadSettings):
    members: list[MemberSpec] = Field(default_factory=default_members, min_length=1)
    shrinkage: float = Field(0.2, ge=0, le=1, description="Share of equal weights mixed into the learned ones.")
    weight_step: float = Field(0.05, gt=0, le=0.5, description="Grid step of the weights' simplex.")


class LoadEnsemble(LoadForecaster):
    """The members fitted on the same frame, combined with weights learned on their held-out
    windows; `refresh` refreshes every member and keeps the weights."""

    Settings = EnsembleSettings
    name = "ensemble"
    conditional = True

    def _fit(self, df: pd.DataFrame) -> None:
        names = [m.name for m in self.settings.members]
        if len(set(names)) != len(names):
            raise LoadFrameError(f"ensemble: member names must differ, got {names}")
        self.members_: dict[str, LoadForecaster] = {}
        for spec in self.settings.members:
            model = create(spec.model, alias=spec.name, **spec.params)
            self.members_[spec.name] = model.fit(df, freq=self.freq_, horizon=self.horizon_)
        self.weights_ = learn_weights(self.members_, shrinkage=self.settings.shrinkage, step=self.settings.weight_step)

    def _refresh(self, df: pd.DataFrame) -> None:
        self.members_ = {n: m._refreshed(df) for n, m in self.members_.items()}

    def _holdout_points(self) -> np.ndarray:
        return np.tensordot(list(self.weights_.values()), [m.validation() for m in self.members_.values()], axes=1)

    def member_forecasts(self, *, h: int, quantiles: Sequence[float]) -> pd.DataFrame:
        """Every member's forecast and the ensemble's, side by side."""
        frames = [m.predict(h=h, quantiles=quantiles) for m in self.members_.values()]
        out = combine(frames, list(self.members_), list(self.weights_.values()), alias=self.alias, quantiles=quantiles)
        for f in frames:
            out = out.merge(f, on=[ID, DS], validate="one_to_one")
        return out

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        parts = [m._clean_predict(h, quantiles) for m in self.members_.values()]
        w = np.asarray(list(self.weights_.values()))
        w = w / w.sum()
        return (np.tensordot(w, [p for p, _ in parts], axes=1), np.tensordot(w, [q for _, q in parts], axes=1))
