"""`Blend` is a model behind the protocol: `fit(df, horizon=H)` fits its members and learns the
weights from an inner rolling backtest on `df`; the backtest builds it from members it has
already fitted and their forecasts at earlier cutoffs (`Blend.from_members`), which is the same
computation. `subset_blend` is the blend of some members as a function of their forecasts (the
growth blend of the hot sellers, the suite's blends without a member); `subset_weights` keeps
that blend's learned weights (`SubsetWeights`), which a release applies again to another plan's
forecasts.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.config import BlendConfig
from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    WEEK,
    Y,
    quantile_columns,
    same_keys,
)
from training.blend.intervals import (
    _bounds,
    _sides,
    _with_level_weights,
    apply_widths,
    calibrate_widths,
    conformal_offsets,
    conformal_table,
    interval_choice,
    level_weights,
    spread_levels,
)
from training.blend.point import held_points, point_factor
from training.blend.weights import (
    INNER_QUANTILES,
    MEDIAN,
    STEP,
    _learn,
    combine,
    learn_weights,
    simplex_grid,
)
from training.metrics import bucket_of, naive_scale
from training.models.base import Forecaster, ModelSettings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SubsetWeights:
    """The learned weights of a blend of some members (`subset_weights`): applied to any forecast
    of theirs (`apply`), the one the weights were learned for or another plan's, it gives the same
    combination row for row."""

    models: tuple[str, ...]
    weights: pd.DataFrame
    global_weights: pd.DataFrame
    median: bool
    horizon_buckets: tuple[int, ...]
    factor: float = 1.0

    def apply(self, preds: pd.DataFrame, quantiles: Sequence[float], *, name: str) -> pd.DataFrame:
        """`preds` (`unique_id, ds`, `cutoff` or `step`, and the members' columns) blended under `name`."""
        out = combine(preds, self.models, self.weights, self.global_weights, quantiles, name=name,
                      horizon_buckets=self.horizon_buckets, median=self.median)
        if self.factor != 1.0:
            out[name] = out[name] * self.factor
        return out

    def beside(self, preds: pd.DataFrame, quantiles: Sequence[float], *, name: str) -> pd.DataFrame:
        """`preds` with the blend's point and quantile columns (`name`) joined on `unique_id, ds`."""
        out = self.apply(preds, quantiles, name=name)
        return preds.merge(out[[ID, DS, name, *quantile_columns(name, quantiles)]], on=[ID, DS], how="left")


def subset_weights(
    validation: pd.DataFrame, models: Sequence[str], *, horizon_buckets: Sequence[int] = (4, 8),
    factor: Literal["checked", "off"] = "off", **weight_params: Any,
) -> SubsetWeights:
    """The weights of the blend of `models` only, learned from `validation` (`learn_weights`);
    with `factor="checked"` the point takes the checked factor as the blend's does
    (`point_factor`). `weight_params`: the rest of `learn_weights`' settings (`without_evidence`
    among them: with no validation row, the members' median or mean)."""
    settings = {**_learn_defaults(), **weight_params, "horizon_buckets": horizon_buckets}
    w, g, held, choice = _learn(validation, models, **settings)
    scale = 1.0
    if factor == "checked":
        scale = point_factor(held_points(held, choice, models), objective=settings["objective"])[0]
    return SubsetWeights(models=tuple(models), weights=w, global_weights=g, median=choice == MEDIAN,
                         horizon_buckets=tuple(horizon_buckets), factor=float(scale))


def subset_blend(
    validation: pd.DataFrame, preds: pd.DataFrame, models: Sequence[str], quantiles: Sequence[float], *,
    name: str, horizon_buckets: Sequence[int] = (4, 8), factor: Literal["checked", "off"] = "off",
    **weight_params: Any,
) -> pd.DataFrame:
    """The blend of `models` only, point and member-mixed quantiles, no interval calibration:
    `subset_weights` learned from `validation` and applied to `preds`."""
    learned = subset_weights(validation, models, horizon_buckets=horizon_buckets, factor=factor, **weight_params)
    return learned.apply(preds, quantiles, name=name)


def _learn_defaults() -> dict[str, Any]:
    """`learn_weights`' default settings (its signature is their one home)."""
    return {k: p.default for k, p in inspect.signature(learn_weights).parameters.items() if p.kind is p.KEYWORD_ONLY}


def _joined(forecasts: list[pd.DataFrame]) -> pd.DataFrame:
    """Members' forecasts side by side on `unique_id, ds` (checked forecasts of the same series
    hold the same rows in the same order, sorted: set side by side without a join)."""
    first = forecasts[0]
    if all(same_keys(f, first) for f in forecasts[1:]) and pd.MultiIndex.from_frame(first[[ID, DS]]).is_monotonic_increasing:
        return pd.concat([first.reset_index(drop=True),
                          *(f.drop(columns=[ID, DS]).reset_index(drop=True) for f in forecasts[1:])], axis=1)
    return functools.reduce(lambda a, b: a.merge(b, on=[ID, DS], how="outer"), forecasts)


# The forecasts of the members no what-if plan moves are kept between calls up to this many
# numbers in all (about 160 MB): some 10,000 items x 12 weeks x 3 members x 50-odd levels.
STEADY_KEPT_VALUES = 20_000_000


class BlendSettings(BlendConfig, ModelSettings):
    """The ensemble's settings: the config's `blend:` section (`BlendConfig`, their one description
    and defaults) plus its members and, for `fit`, its inner backtest."""

    members: list[dict[str, Any]] = Field(
        default_factory=list, description="Members as {model, alias, params} (config `forecast.models`)."
    )
    calibrate: bool = Field(
        True, description="Rescale the blended interval widths so validation coverage is nominal."
    )
    inner_windows: int = Field(3, ge=1, description="Windows of the inner backtest in `fit`.")
    step_weeks: int = Field(4, ge=1, description="Weeks between the inner backtest's windows in `fit`.")


class Blend(Forecaster):
    """The ensemble: members' forecasts blended with per-series, per-horizon-bucket weights."""

    model_name = "blend"
    Settings = BlendSettings
    global_model = True
    uses_groups = True  # handed to its members
    fixed_horizon = True  # its members are fitted for the horizon

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {
            "members": [{"model": "naive"}, {"model": "moving_average", "params": {"window": 4}}],
            "inner_windows": 2,
        }

    def _fit(self, df: pd.DataFrame) -> None:
        from training.models import create

        s = self.settings
        if not s.members:
            raise ValueError("blend: no members")
        members = {}
        for spec in s.members:
            m = create(spec["model"], alias=spec.get("alias"), **spec.get("params", {}))
            members[m.alias] = m
        # inner rolling backtest on df: members fitted at earlier cutoffs, scored on what followed
        last = df[DS].max()
        parts = []
        for i in range(s.inner_windows, 0, -1):
            cutoff = last - WEEK * (s.step_weeks * i)
            train = df[df[DS] <= cutoff]
            if train.groupby(ID).size().max() < 3:
                continue
            joined = None
            for name, spec in zip(members, s.members, strict=True):
                m = create(spec["model"], alias=name, **spec.get("params", {}))
                try:
                    fc = m.fit(train, horizon=self.horizon_, groups=self.groups_).predict(
                        h=self.horizon_, quantiles=INNER_QUANTILES
                    )
                except ValueError as e:
                    log.warning("blend: member %s skipped at inner cutoff %s: %s", name, cutoff.date(), e)
                    continue
                joined = fc if joined is None else joined.merge(fc, on=[ID, DS], how="outer")
            if joined is not None:
                scale = naive_scale(train).rename("scale").reset_index()
                known = joined.merge(df[[ID, DS, Y]], on=[ID, DS], how="inner").merge(scale, on=ID, how="left")
                parts.append(known.assign(**{CUTOFF: cutoff}))
        validation = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[ID, DS, CUTOFF, Y])
        for name in members:
            if name not in validation:
                validation[name] = np.nan
        for m in members.values():
            m.fit(df, horizon=self.horizon_, groups=self.groups_)
        self._set(members, validation)

    @classmethod
    def from_members(
        cls, fitted: dict[str, Forecaster], validation: pd.DataFrame, *, alias: str | None = None, **params: Any
    ) -> Blend:
        """A fitted blend from fitted members and their forecasts on earlier windows
        (`unique_id, cutoff, ds, y` + the members' columns, only weeks known at the fit)."""
        blend = cls(alias=alias, **params)
        first = next(iter(fitted.values()))
        blend.last_ds_ = first.last_ds_
        blend.n_series_ = len(blend.last_ds_)
        horizons = [m.horizon_ for m in fitted.values() if getattr(m, "horizon_", None)]
        blend.horizon_ = min(horizons) if horizons else None
        blend._set(fitted, validation)
        blend.fitted_ = True
        return blend

    def _set(self, members: dict[str, Forecaster], validation: pd.DataFrame) -> None:
        s = self.settings
        names = list(members)
        self.members_ = members
        # the known-future plan the members were fitted with (the same for each that reads one):
        # predict(future=other_plan) hands another to those members
        self.future_ = next((m.future_ for m in members.values() if getattr(m, "future_", None) is not None), None)
        self.weights_, self.global_weights_, held, choice = _learn(
            validation, names, grid_step=s.grid_step, min_points=s.min_points, shrinkage=s.shrinkage,
            objective=s.objective, horizon_buckets=s.horizon_buckets, fallback_shrinkage=16.0,
            origin_decay=s.origin_decay, horizon_weights=s.horizon_weights, without_evidence=s.without_evidence,
        )
        self.shrinkage_ = self.weights_.attrs.get("shrinkage")
        self.choice_ = choice
        self.heldout_loss_ = self.weights_.attrs.get("heldout_loss", {})
        self.point_factor_, self.point_checks_ = 1.0, []
        if s.point_factor == "checked":
            self.point_factor_, self.point_checks_ = point_factor(held_points(held, choice, names), objective=s.objective)
        self.width_factors_: dict[str, float] = {}
        self.conformal_: np.ndarray | None = None
        self.pair_ = spread_levels(validation.columns, names)
        scale = validation.dropna(subset=["scale"]) if "scale" in validation else validation.iloc[:0]
        if len(scale) and CUTOFF in scale:
            scale = scale.sort_values(CUTOFF, kind="stable")
        self.scale_ = scale.groupby(ID)["scale"].last() if len(scale) else pd.Series(dtype="float64")
        if not s.calibrate:
            return
        # no validation row to calibrate on (MEDIAN): the median of the members' quantiles
        self.intervals_, self.interval_loss_ = ("members" if choice == MEDIAN else "conformal"), {}
        self.level_weights_: dict[float, np.ndarray] = {}
        if choice == MEDIAN:
            return
        if self.pair_ is not None:
            n_buckets = len(s.horizon_buckets) + 1
            grid = simplex_grid(len(names), s.grid_step)
            if s.intervals == "auto":
                self.intervals_, self.interval_loss_ = interval_choice(
                    held, choice, names, self.pair_, n_buckets, grid, validation)
            else:
                self.intervals_ = s.intervals
            if self.intervals_ == "levels":
                sides = {q: level_weights(validation, names, grid, q) for q in self.pair_}
                if any(w is None for w in sides.values()):
                    self.intervals_ = "members"
                else:
                    self.level_weights_ = {float(q): w for q, w in sides.items()}
            if self.intervals_ in ("members", "levels"):  # the members' quantiles: no table, no factors
                return
            self.conformal_ = conformal_table(held, choice, names, self.pair_, n_buckets)
        if self.conformal_ is None:  # too few held-out rows: the width factors of every window
            self.width_factors_ = calibrate_widths(
                validation, names, self.weights_, self.global_weights_, horizon_buckets=s.horizon_buckets
            )

    def _member_forecasts(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None = None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        """Each member's forecast, of the series `only` when given; `future`: another plan for the
        members fitted with one. On such a what-if call the members that read no plan give the
        forecasts they gave the first one (`_steady`)."""
        whatif = future is not None or only is not None
        forecasts, steady = [], []
        for name, m in self.members_.items():
            reads_plan = getattr(m, "future_", None) is not None
            if whatif and not reads_plan:
                steady.append(name)
                continue
            forecasts.append(m.predict(h=h, quantiles=quantiles, future=future if reads_plan else None, ids=only))
        if steady:
            forecasts.append(self._steady(h, quantiles, steady, only))
        preds = _joined(forecasts)
        preds[STEP] = ((preds[DS] - self.last_ds_.reindex(preds[ID]).to_numpy()) // WEEK).astype("int64")
        return preds

    def _steady(self, h: int, quantiles: list[float], names: list[str], only: pd.Index | None) -> pd.DataFrame:
        """The forecasts of the members `names` (those no plan changes), of the series `only` when
        given. Every series' forecasts are predicted once per horizon and levels and kept for the
        next what-if calls, several such sets side by side (the service asks a planned forecast
        at its levels and the hot-seller ranking at the trained ones, one after the other) while
        together they hold at most `STEADY_KEPT_VALUES` numbers; a set that does not fit beside
        the kept ones is not kept: the members are asked for the series `only` at each such call
        (a row-wise member computes those rows only: `RowwiseForecaster`)."""
        key = (h, tuple(quantiles), tuple(names))
        kept: dict[tuple, pd.DataFrame] = self.__dict__.get("_steady_kept", {})
        fc = kept.get(key)
        if fc is None:
            size = len(self.last_ds_) * h * (2 + len(names) * (1 + len(quantiles)))
            if sum(f.size for f in kept.values()) + size > STEADY_KEPT_VALUES:
                ids = None if only is None else list(only)
                return _joined([self.members_[n].predict(h=h, quantiles=quantiles, ids=ids) for n in names])
            fc = _joined([self.members_[n].predict(h=h, quantiles=quantiles) for n in names])
            self._steady_kept = {**kept, key: fc}
        return fc if only is None else fc[fc[ID].isin(only)].reset_index(drop=True)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_steady_kept", None)  # a cache of forecasts: recomputed after loading
        return state

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        return self._planned(h, quantiles, None)

    def _predict_future(self, h: int, quantiles: list[float], future: pd.DataFrame) -> pd.DataFrame:
        # the members' own plan unless another one was given to predict
        return self._planned(h, quantiles, None if future is self.future_ else future)

    def _predict_some(self, h: int, quantiles: list[float], plan: pd.DataFrame | None, only: pd.Index) -> pd.DataFrame:
        return self._planned(h, quantiles, None if plan is self.future_ else plan, only)

    def predict_with_members(
        self, *, h: int, quantiles: Sequence[float], future: pd.DataFrame | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """`predict`'s forecast with every member's point and `quantiles` columns beside it, each
        member predicting once: what the hot-seller ranking reads under a plan
        (`training.hot_sellers.whatif`), which asking the blend and then each member would predict
        twice. Each member's columns are its `predict(h, quantiles, future, ids)` (a member that
        reads no plan: its own plan's forecast)."""
        h, qs, only, plan = self._asked_for(h, quantiles, future, ids)
        out, preds = self._with_members(h, qs, None if plan is self.future_ else plan, only, beside=qs)
        out = self._checked(out, h, qs, only)
        members = preds[[ID, DS, *(c for m in self.members_ for c in (m, *quantile_columns(m, qs)))]]
        return _joined([out, members])  # the blend holds its members' rows in their order: no join

    def _planned(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        return self._with_members(h, quantiles, future, only)[0]

    def _with_members(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None, only: pd.Index | None = None,
        *, beside: list[float] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The blend's forecast and the members' forecasts it came from, these asked at the levels
        `beside` as well."""
        asked = self._asked(quantiles)
        if beside is not None:
            asked = sorted(set(asked) | set(beside))
        preds = self._member_forecasts(h, asked, future, only)
        out = self._blended(preds, quantiles)
        factor = getattr(self, "point_factor_", 1.0)
        if factor != 1.0:  # the point only: the quantiles keep their own calibration
            out[self.alias] = out[self.alias] * factor
        return out, preds

    def _asked(self, quantiles: list[float]) -> list[float]:
        """The levels the members are asked at for the blend's `quantiles`: those, or the conformal
        interval's pair and the median."""
        if getattr(self, "conformal_", None) is None:
            return list(quantiles)
        lo, hi = self.pair_
        return [lo, 0.5, hi]

    def _blended(self, preds: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
        """The blend of the members' forecasts `preds` (asked at `_asked(quantiles)` at least)."""
        names = list(self.members_)
        buckets_at = self.settings.horizon_buckets
        table = getattr(self, "conformal_", None)
        if table is None:
            out = combine(preds, names, self.weights_, self.global_weights_, quantiles,
                          name=self.alias, horizon_buckets=buckets_at, median=getattr(self, "choice_", None) == MEDIAN)
            sides = getattr(self, "level_weights_", {})
            if sides:
                return _with_level_weights(out, preds, names, self.alias, quantiles, sides, buckets_at)
            return apply_widths(out, self.alias, quantiles, getattr(self, "width_factors_", {}))
        # conformal: the blended median plus each level's held-out score times the blended
        # interval's width on that side
        lo, hi = self.pair_
        b = combine(preds, names, self.weights_, self.global_weights_, [lo, 0.5, hi], name="b", horizon_buckets=buckets_at)
        point = b["b"].to_numpy()
        center = b["b-q50"].to_numpy()
        scale = self.scale_.reindex(preds[ID]).to_numpy(dtype="float64") if len(self.scale_) else None
        below, above = _sides(center, b[quantile_columns("b", [lo])[0]].to_numpy(),
                              b[quantile_columns("b", [hi])[0]].to_numpy(), scale)
        buckets = bucket_of(preds[STEP].to_numpy(), buckets_at)
        out = preds[[ID, DS]].copy()
        out[self.alias] = point
        cols = quantile_columns(self.alias, quantiles)
        vals = np.stack([_bounds(center, below, above, conformal_offsets(table, buckets, q)) for q in quantiles], axis=1)
        out[cols] = np.sort(vals, axis=1)
        return out
