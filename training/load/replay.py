"""Rolling-origin forecasts for a replica plan: every interval of an evaluation window gets the
forecast made at its decision time.

The capacity of interval t is decided at the start of t - lead, when the last closed interval
is t - lead - 1: its forecast is the one of step lead + 1 or more from an origin at or before
t - lead - 1, never one that saw later data. Members forecast every `refit_every` intervals
(refitted, or refreshed between retrains), each forecasting `refit_every + lead` steps; the
intervals t with origin + lead < t <= origin + lead + refit_every take that origin's forecast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from darkhorse.core.schema import DS, ID, Y
from training.load.blend import combine, learn_weights
from training.load.frame import LoadFrameError, step, validate_intervals
from training.load.members import LoadForecaster

CUTOFF = "cutoff"
STEP = "step"


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
    The ensemble's weights are learned at every origin on the members' held-out windows
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
    horizon = refit_every + lead
    parts = []
    origin = start - (lead + 1) * delta
    n = 0
    weight_rows: list[dict[str, Any]] = []
    state: dict[str, LoadForecaster] = {}
    trained_at: pd.Timestamp | None = None
    weights: dict[str, float] = {}
    while origin + (lead + 1) * delta <= end:
        history = data[data[DS] <= origin]
        retrain = trained_at is None or retrain_every is None or origin - trained_at >= retrain_every * delta
        frames, fitted = [], {}
        for name, make in members.items():
            if retrain:
                model = make()
                model.alias = name
                fitted[name] = state[name] = model.fit(history, freq=freq, horizon=horizon)
            else:  # the last trained model reading the history up to this origin
                fitted[name] = state[name].refresh(history)
            frames.append(fitted[name].predict(h=horizon, quantiles=quantiles))
        if retrain:
            trained_at = origin
            weights = learn_weights(fitted, shrinkage=shrinkage) if ensemble else {}
        if ensemble:
            frames.append(combine(frames, list(members), list(weights.values()), alias=ensemble, quantiles=quantiles))
            weight_rows.append({CUTOFF: origin, **weights})
        merged = frames[0]
        for f in frames[1:]:
            merged = merged.merge(f, on=[ID, DS], validate="one_to_one")
        merged.insert(2, CUTOFF, origin)
        merged.insert(3, STEP, ((merged[DS] - origin) / delta).round().astype(int))
        parts.append(merged[(merged[STEP] > lead) & (merged[DS] <= end)])
        origin += refit_every * delta
        n += 1
        if progress:
            progress(f"origin {n}: {origin - refit_every * delta}")
    out = pd.concat(parts, ignore_index=True)
    out = out.merge(data, on=[ID, DS], how="left", validate="many_to_one")
    cols = [ID, DS, CUTOFF, STEP, Y] + [c for c in out.columns if c not in (ID, DS, CUTOFF, STEP, Y)]
    out = out[cols].sort_values([ID, DS], ignore_index=True)
    out.attrs["weights"] = weight_rows  # the ensemble's weights at every origin
    return out
