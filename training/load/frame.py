"""The long frame at an interval grain: checks, and the grain's seasonal periods."""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID, Y


class LoadFrameError(DarkHorseError, ValueError):
    """A load frame is not a regular series of intervals at its grain; the message says where."""


def step(freq: str) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        raise LoadFrameError(f"freq {freq!r} is not a fixed interval such as '5min' or '1h'") from None
    if delta <= pd.Timedelta(0) or pd.Timedelta("1D") % delta != pd.Timedelta(0):
        raise LoadFrameError(f"freq {freq!r} must divide a day")
    return delta


def periods(freq: str) -> dict[str, int]:
    """Intervals in a day and in a week at this grain (`{"day": 288, "week": 2016}` at 5 min)."""
    per_day = int(pd.Timedelta("1D") / step(freq))
    return {"day": per_day, "week": 7 * per_day}


def validate_intervals(df: pd.DataFrame, freq: str) -> pd.DataFrame:
    """A sorted copy of `unique_id, ds, y`: every series regular at `freq` (no gaps: a
    missing interval is a zero row of the panel, not a gap), loads finite and non-negative."""
    delta = step(freq)
    missing = [c for c in (ID, DS, Y) if c not in df.columns]
    if missing:
        raise LoadFrameError(f"missing column(s) {missing}; the load frame is unique_id, ds, y")
    if df.empty:
        raise LoadFrameError("the load frame has no rows")
    out = df[[ID, DS, Y]].copy()
    out[ID] = out[ID].astype(str)
    ds = pd.to_datetime(out[DS])
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    out[DS] = ds.astype("datetime64[ns]")
    y = pd.to_numeric(out[Y], errors="coerce").astype("float64").to_numpy()
    if not np.isfinite(y).all() or (y < 0).any():
        raise LoadFrameError("column y: loads must be finite and non-negative")
    out = out.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    gaps = out.groupby(ID, sort=False)[DS].diff().dropna()
    if (gaps != delta).any():
        at = gaps.index[(gaps != delta).to_numpy()][0]
        raise LoadFrameError(
            f"series {out.loc[at, ID]!r} is not regular at {freq}: {out.loc[at - 1, DS]} then {out.loc[at, DS]}"
        )
    return out
