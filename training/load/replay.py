"""Rolling-origin forecasts at an interval grain: the one origin loop behind the replica plan's
replay (`rolling_forecasts`) and the load backtest (`training.load.backtest`).

`forecast_origins` fits the members on the history up to each origin only (or refreshes the
last trained ones between retrains), forecasts the next `horizon` intervals, and combines
them into the ensemble with weights learned on the members' held-out windows at that origin
(`blend.learn_grouped_weights`: per group of series by noise ratio, one group by default).

For a replica plan, the capacity of interval t is decided at the start of t - lead, when the
last closed interval is t - lead - 1: its forecast is the one of step lead + 1 or more from an
origin at or before t - lead - 1, never one that saw later data. `rolling_forecasts` puts an
origin every `refit_every` intervals, each forecasting `refit_every + lead` steps; the
intervals t with origin + lead < t <= origin + lead + refit_every take that origin's forecast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y
from training.load.blend import combine, learn_grouped_weights
from training.load.frame import LoadFrameError, step, validate_intervals
from training.load.members import LoadForecaster

CUTOFF = "cutoff"
STEP = "step"


@dataclass(frozen=True)
class Weighting:
    """How the ensemble's weights are learned at an origin (`blend.learn_grouped_weights`)."""

    shrinkage: float = 0.2
    step: float = 0.05
    noise_groups: int = 1
    min_group_series: int = 30


def without(ensemble: str, member: str) -> str:
    """The column of the ensemble re-weighted without `member` (`forecast_origins(leave_one_out=True)`)."""
    return f"{ensemble}_without_{member}"


def _ensemble(
    fitted: Mapping[str, LoadForecaster], frames: Mapping[str, pd.DataFrame], *, alias: str,
    weighting: Weighting, quantiles: Sequence[float],
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The members' forecasts combined with the weights learned on their held-out windows, each
    series with its group's; and the weights over all series."""
    names = list(fitted)
    groups = learn_grouped_weights(
        fitted, groups=weighting.noise_groups, min_series=weighting.min_group_series,
        shrinkage=weighting.shrinkage, step=weighting.step,
    )
    overall = dict(zip(groups.names, groups.overall.tolist(), strict=True))
    parts = [frames[n] for n in names]
    if len(groups.weights) == 1:
        return combine(parts, names, list(groups.overall), alias=alias, quantiles=quantiles), overall
    first = fitted[names[0]]
    per_series = groups.of(first.series_, horizon=0, period=first.periods_["day"])  # (series, members)
    out = []
    for row in np.unique(per_series, axis=0):
        ids = set(first.ids_[(per_series == row).all(axis=1)])
        sub = [f[f[ID].isin(ids)] for f in parts]
        out.append(combine(sub, names, list(row), alias=alias, quantiles=quantiles))
    order = parts[0][[ID, DS]]
    return order.merge(pd.concat(out, ignore_index=True), on=[ID, DS], how="left", validate="one_to_one"), overall


def forecast_origins(
    data: pd.DataFrame,
    *,
    freq: str,
    members: Mapping[str, Callable[[], LoadForecaster]],
    origins: Sequence[pd.Timestamp],
    horizon: int,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    ensemble: str | None = "ensemble",
    weighting: Weighting = Weighting(),
    retrain_every: int | None = None,
    leave_one_out: bool = False,
    timings: dict[str, float] | None = None,
    skipped: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`unique_id, ds, cutoff, step, <member>, <member>-qNN..., [<ensemble>...]`: the next
    `horizon` intervals after every origin (in order), forecast from the rows of `data` (a
    frame `validate_intervals` returned) up to that origin only; and the ensemble's weights at
    every origin (`cutoff` and one key per member).

    With `retrain_every` (intervals), members are trained (and the weights learned) at the
    first origin and again once that many intervals have passed; at the origins between, the
    last trained members `refresh` on the history up to the origin. With `leave_one_out`,
    every member also gets the column `without(ensemble, member)` (and its quantiles): the
    ensemble with its weights learned again on the other members' held-out windows, nothing
    refitted. `timings` (if given) accumulates each member's seconds (fit or refresh, and
    predict) and the ensemble's (weights and combination) under their names. With `skipped`
    (a dict), a member that cannot be fitted on the first origin's history (a `LoadFrameError`:
    too short for its windows) is left out at every origin and the reason recorded there."""
    if not members:
        raise LoadFrameError("forecast_origins needs at least one member")
    if horizon < 1:
        raise LoadFrameError(f"horizon must be at least 1, got {horizon}")
    delta = step(freq)
    clock = timings if timings is not None else {}
    parts: list[pd.DataFrame] = []
    weight_rows: list[dict[str, Any]] = []
    state: dict[str, LoadForecaster] = {}
    trained_at: pd.Timestamp | None = None
    weights: dict[str, float] = {}
    for n, origin in enumerate(origins, start=1):
        history = data[data[DS] <= origin]
        retrain = trained_at is None or retrain_every is None or origin - trained_at >= retrain_every * delta
        frames: dict[str, pd.DataFrame] = {}
        fitted: dict[str, LoadForecaster] = {}
        for name, make in members.items():
            t0 = time.perf_counter()
            if retrain:
                model = make()
                model.alias = name
                try:
                    fitted[name] = state[name] = model.fit(history, freq=freq, horizon=horizon)
                except LoadFrameError as e:
                    if skipped is None or n > 1:
                        raise
                    skipped[name] = str(e)
                    continue
            else:  # the last trained model reading the history up to this origin
                fitted[name] = state[name].refresh(history)
            frames[name] = fitted[name].predict(h=horizon, quantiles=quantiles)
            clock[name] = clock.get(name, 0.0) + time.perf_counter() - t0
        if not fitted:
            raise LoadFrameError(f"no member could be fitted on the history up to {origin}: {skipped}")
        members = {k: v for k, v in members.items() if k in fitted}
        if retrain:
            trained_at = origin
        merged = frames[next(iter(frames))]
        for name in list(frames)[1:]:
            merged = merged.merge(frames[name], on=[ID, DS], validate="one_to_one")
        if ensemble:
            t0 = time.perf_counter()
            if retrain:  # weights learned when the members are trained, kept between
                fc, weights = _ensemble(fitted, frames, alias=ensemble, weighting=weighting, quantiles=quantiles)
            else:
                fc = combine(list(frames.values()), list(frames), list(weights.values()), alias=ensemble, quantiles=quantiles)
            merged = merged.merge(fc, on=[ID, DS], validate="one_to_one")
            weight_rows.append({CUTOFF: origin, **weights})
            clock[ensemble] = clock.get(ensemble, 0.0) + time.perf_counter() - t0
            if leave_one_out and len(fitted) > 1:
                for m in fitted:
                    rest = {k: v for k, v in fitted.items() if k != m}
                    fc, _ = _ensemble(rest, {k: frames[k] for k in rest}, alias=without(ensemble, m),
                                      weighting=weighting, quantiles=quantiles)
                    merged = merged.merge(fc, on=[ID, DS], validate="one_to_one")
        merged.insert(2, CUTOFF, origin)
        merged.insert(3, STEP, ((merged[DS] - origin) / delta).round().astype(int))
        parts.append(merged)
        if progress:
            progress(f"origin {n}/{len(origins)}: {origin}")
    return pd.concat(parts, ignore_index=True), weight_rows


def rolling_forecasts(
    df: pd.DataFrame,
    *,
    freq: str,
    members: Mapping[str, Callable[[], LoadForecaster]],
    eval_start: Any,
    lead: int = 0,
    refit_every: int = 1,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    ensemble: str | None = "ensemble",
    shrinkage: float = 0.2,
    retrain_every: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """`unique_id, ds, cutoff, step, y, <member>, <member>-qNN..., [<ensemble>...]` for every
    interval from `eval_start` to the frame's end; `cutoff` is the last interval the forecast saw.
    The ensemble's weights are learned at every training on the members' held-out windows
    (`blend.learn_weights`, only data up to the origin); `attrs["weights"]` lists them.

    With `retrain_every` (intervals), members are trained (and the weights learned) at the
    first origin and again once that many intervals have passed; at the origins between, the
    last trained members `refresh` on the history up to the origin (the global models read
    the new windows without refitting, the others are fitted again), as the streaming service
    does between two releases."""
    if lead < 0 or refit_every < 1:
        raise LoadFrameError(f"lead must be >= 0 and refit_every >= 1; got {lead}, {refit_every}")
    if not members:
        raise LoadFrameError("rolling_forecasts needs at least one member")
    data = validate_intervals(df, freq)
    delta = step(freq)
    start = pd.Timestamp(eval_start).tz_localize(None) if pd.Timestamp(eval_start).tzinfo else pd.Timestamp(eval_start)
    end = data[DS].max()
    if start > end or start - (lead + 1) * delta < data[DS].min():
        raise LoadFrameError(f"eval_start {start} leaves no history before it or no interval after it")
    first = start - (lead + 1) * delta
    origins = []
    origin = first
    while origin + (lead + 1) * delta <= end:
        origins.append(origin)
        origin += refit_every * delta
    fc, weight_rows = forecast_origins(
        data, freq=freq, members=members, origins=origins, horizon=refit_every + lead, quantiles=quantiles,
        ensemble=ensemble, weighting=Weighting(shrinkage=shrinkage), retrain_every=retrain_every, progress=progress,
    )
    out = fc[(fc[STEP] > lead) & (fc[DS] <= end)]
    out = out.merge(data, on=[ID, DS], how="left", validate="many_to_one")
    cols = [ID, DS, CUTOFF, STEP, Y] + [c for c in out.columns if c not in (ID, DS, CUTOFF, STEP, Y)]
    out = out[cols].sort_values([ID, DS], ignore_index=True)
    out.attrs["weights"] = weight_rows  # the ensemble's weights at every origin
    return out
