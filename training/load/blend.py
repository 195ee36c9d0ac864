"""The load ensemble: member weights learned on held-out windows.

Every fitted member gives `validation()`: each series' last `horizon` intervals as forecast
by a fit that did not see them. The weights are the point on the simplex (a grid of `step`)
with the lowest mean scaled error over those windows, each series' error scaled by the mean
absolute error of its daily seasonal naive on the history before the window (MASE, as the
M4 guide scales hourly series; by its level where its history repeats exactly), then shrunk towards equal weights by `shrinkage` (one held-out
window is a small sample: a member that wins it by luck keeps part of the others). Series
that some member could not hold out are left out; with none left the weights are equal.

With `noise_groups` > 1 (and at least `min_group_series` held-out series a group) the series
are cut into groups of about equal size by their noise ratio (daily seasonal scale over mean
level) and each group learns its own weights (`learn_grouped_weights`): on M4 Hourly the
MASE-weighted global XGBoost wins the smooth series and the seasonally scaled one the noisy
ones. A series' group at forecast time is read from its current history.

Points and every quantile level are the weighted averages of the members' (the equal-weight
`quantile_average` is the special case).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from darkhorse.core.schema import DS, ID, check_quantiles, quantile_columns
from training.load.frame import LoadFrameError
from training.load.members import LoadForecaster, LoadSettings, create

CELLS_AT_ONCE = 10_000_000  # (weights, cells) losses held at once: 80 MB


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
        head = y[: len(y) - horizon]
        lag = period if len(head) > period else 1
        if len(head) > lag:
            out[i] = np.mean(np.abs(head[lag:] - head[:-lag]))
            if out[i] <= 1e-9 * np.mean(np.abs(head)):  # a history that repeats exactly: no scale
                out[i] = np.nan
    return out


def noise_ratio(series: Sequence[np.ndarray], horizon: int, period: int) -> np.ndarray:
    """Per series: its daily seasonal scale (`held_out_scale`) over its mean absolute level,
    both over the history before its last `horizon` intervals (0: the whole history); NaN
    where there is no scale. Small for a smooth series, large for a noisy one."""
    scale = held_out_scale(series, horizon, period)
    level = np.array([np.mean(np.abs(y[: len(y) - horizon])) if len(y) > horizon else np.nan for y in series])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(level > 0, scale / np.where(level > 0, level, 1.0), np.nan)


@dataclass(frozen=True)
class GroupedWeights:
    """Member weights per group of series cut by their noise ratio (`noise_ratio`) at
    `edges`; `overall` for a series whose ratio is unknown. Rows of `weights` sum to 1."""

    names: list[str]
    edges: np.ndarray  # (groups - 1,) increasing noise ratios
    weights: np.ndarray  # (groups, members)
    overall: np.ndarray  # (members,)

    def of(self, series: Sequence[np.ndarray], *, horizon: int, period: int) -> np.ndarray:
        """(series, members): each series' weights from its history before its last `horizon`."""
        ratio = noise_ratio(series, horizon, period)
        group = np.searchsorted(self.edges, np.nan_to_num(ratio, nan=0.0), side="right")
        out = self.weights[group]
        out[~np.isfinite(ratio)] = self.overall
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"noise_ratio_edges": [float(e) for e in self.edges],
                "weights": [{n: float(x) for n, x in zip(self.names, row, strict=True)} for row in self.weights]}


def _held_out(models: Mapping[str, LoadForecaster]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The members' held-out windows (members, series, h), the actuals (series, h), each
    series' MASE scale and its noise ratio, for the series every member held out (`ok`)."""
    names = list(models)
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
    return val, actual, scale, ok


def _best(val: np.ndarray, actual: np.ndarray, scale: np.ndarray, *, shrinkage: float, step: float) -> np.ndarray:
    """The simplex point with the lowest mean scaled error over these series, shrunk to equal."""
    m, n, h = val.shape
    v = val.reshape(m, -1)  # (members, cells)
    a = actual.reshape(-1)
    w_cell = np.repeat(1.0 / scale, h) / n / h  # mean over series of each one's mean scaled error
    grid = _simplex(m, step) if m <= 6 else np.eye(m)
    loss = np.empty(len(grid))
    chunk = max(1, CELLS_AT_ONCE // max(v.shape[1], 1))  # bounded memory: 6 members x 20k cells is 53k x 20k
    for i in range(0, len(grid), chunk):
        loss[i : i + chunk] = np.abs(grid[i : i + chunk] @ v - a[None, :]) @ w_cell
    best = grid[int(np.argmin(loss))]
    return (1 - shrinkage) * best + shrinkage / m


def learn_weights(
    models: Mapping[str, LoadForecaster], *, shrinkage: float = 0.2, step: float = 0.05
) -> dict[str, float]:
    """Weights per member (summing to 1) from the members' held-out windows."""
    names = list(models)
    if not names:
        raise LoadFrameError("learn_weights needs at least one fitted member")
    if len(names) == 1:
        return {names[0]: 1.0}
    val, actual, scale, ok = _held_out(models)
    if not ok.any():
        return {n: 1.0 / len(names) for n in names}
    w = _best(val[:, ok], actual[ok], scale[ok], shrinkage=shrinkage, step=step)
    return {n: float(x) for n, x in zip(names, w, strict=True)}


def learn_grouped_weights(
    models: Mapping[str, LoadForecaster], *, groups: int = 3, min_series: int = 30,
    shrinkage: float = 0.2, step: float = 0.05,
) -> GroupedWeights:
    """`learn_weights` per group of series of about equal size, cut by their noise ratio over
    the history before the held-out window: smooth series and noisy ones each get the members
    that forecast them best (on M4 Hourly a global model weighted by MASE wins the smooth
    ones, one over seasonally scaled windows the noisy ones). Fewer groups where the series
    held out are fewer than `groups x min_series`; one group is `learn_weights`."""
    overall = learn_weights(models, shrinkage=shrinkage, step=step)
    names = list(overall)
    flat = np.array([overall[n] for n in names])
    if len(names) == 1:
        return GroupedWeights(names, np.zeros(0), flat[None, :], flat)
    val, actual, scale, ok = _held_out(models)
    first = models[names[0]]
    ratio = noise_ratio(first.series_, first.horizon_, first.periods_["day"])
    ok &= np.isfinite(ratio)
    g = max(1, min(int(groups), int(ok.sum()) // max(int(min_series), 1)))
    if g == 1:
        return GroupedWeights(names, np.zeros(0), flat[None, :], flat)
    edges = np.quantile(ratio[ok], np.arange(1, g) / g)
    member = np.searchsorted(edges, ratio, side="right")
    rows = [_best(val[:, ok & (member == j)], actual[ok & (member == j)], scale[ok & (member == j)],
                  shrinkage=shrinkage, step=step) for j in range(g)]
    return GroupedWeights(names, edges, np.vstack(rows), flat)


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
    noise_groups: int = Field(3, ge=1, le=10, description="Groups of series by noise ratio, each with its weights.")
    min_group_series: int = Field(30, ge=1, description="Held-out series per group at least (else fewer groups).")


class LoadEnsemble(LoadForecaster):
    """The members fitted on the same frame, combined with weights learned on their held-out
    windows, per group of series by noise ratio (`groups_`; `weights_` are the weights over all
    series, which a series of unknown ratio gets); `refresh` refreshes every member and keeps
    the weights, a series' group read from its current history."""

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
        s = self.settings
        self.groups_ = learn_grouped_weights(self.members_, groups=s.noise_groups, min_series=s.min_group_series,
                                             shrinkage=s.shrinkage, step=s.weight_step)
        self.weights_ = dict(zip(self.groups_.names, self.groups_.overall.tolist(), strict=True))

    def _refresh(self, df: pd.DataFrame) -> None:
        self.members_ = {n: m._refreshed(df) for n, m in self.members_.items()}

    def _series_weights(self, horizon: int) -> np.ndarray:
        """(series, members): each series' weights, its group read from its history before
        its last `horizon` intervals."""
        return self.groups_.of(self.series_, horizon=horizon, period=self.periods_["day"])

    def _holdout_points(self) -> np.ndarray:
        w = self._series_weights(self.horizon_)
        return np.einsum("sm,msh->sh", w, np.stack([m.validation() for m in self.members_.values()]))

    def member_forecasts(self, *, h: int, quantiles: Sequence[float]) -> pd.DataFrame:
        """Every member's forecast and the ensemble's, side by side."""
        out = self.predict(h=h, quantiles=quantiles)
        for m in self.members_.values():
            out = out.merge(m.predict(h=h, quantiles=quantiles), on=[ID, DS], validate="one_to_one")
        return out

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        parts = [m._clean_predict(h, quantiles) for m in self.members_.values()]
        w = self._series_weights(0)
        return (np.einsum("sm,msh->sh", w, np.stack([p for p, _ in parts])),
                np.einsum("sm,mshq->shq", w, np.stack([q for _, q in parts])))
