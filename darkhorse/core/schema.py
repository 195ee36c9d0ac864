"""The one long-frame schema every model, backtest and blend speaks.

* input: `unique_id, ds, y` (+ covariate columns, ignored by models that do not use them);
  `ds` is the start of a week (naive timestamp, UTC), one row per series and week, weeks dense.
* forecasts: `unique_id, ds, <model>, <model>-q10, <model>-q50, <model>-q90`; backtests add
  `cutoff` (the last week the model saw) and `y` (the realized value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError

ID, DS, Y, CUTOFF = "unique_id", "ds", "y", "cutoff"
WEEK = pd.Timedelta(weeks=1)


class SchemaError(DarkHorseError, ValueError):
    """A frame does not follow the long-frame schema; the message names the column."""


def quantile_suffix(q: float) -> str:
    return f"q{round(q * 100):d}"


def quantile_columns(model: str, quantiles: Sequence[float]) -> list[str]:
    return [f"{model}-{quantile_suffix(q)}" for q in sorted(quantiles)]


def forecast_columns(model: str, quantiles: Sequence[float]) -> list[str]:
    return [model, *quantile_columns(model, quantiles)]


def check_quantiles(quantiles: Sequence[float]) -> list[float]:
    qs = sorted(float(q) for q in quantiles)
    if not qs:
        raise SchemaError("quantiles is empty")
    if any(not 0.0 < q < 1.0 for q in qs) or len({quantile_suffix(q) for q in qs}) != len(qs):
        raise SchemaError(f"quantiles must be distinct levels in (0, 1), got {list(quantiles)}")
    return qs


def validate_long(df: pd.DataFrame, *, require_y: bool = True) -> pd.DataFrame:
    """Check the input frame; return a sorted copy with clean dtypes (the input is untouched)."""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame, got {type(df).__name__}")
    need = [ID, DS, Y] if require_y else [ID, DS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise SchemaError(f"missing column(s) {missing}; the long frame is unique_id, ds, y")
    if df.empty:
        raise SchemaError("the frame has no rows")
    out = df.copy()
    out[ID] = out[ID].astype(str)
    ds = pd.to_datetime(out[DS], errors="coerce")
    if ds.isna().any():
        raise SchemaError(f"column ds: {int(ds.isna().sum())} value(s) are not dates")
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    out[DS] = ds.astype("datetime64[ns]")
    if require_y:
        y = pd.to_numeric(out[Y], errors="coerce").astype("float64")
        bad = ~np.isfinite(y.to_numpy())
        if bad.any():
            raise SchemaError(f"column y: {int(bad.sum())} value(s) are missing or not finite")
        out[Y] = y
    if out.duplicated([ID, DS]).any():
        n = int(out.duplicated([ID, DS]).sum())
        raise SchemaError(f"{n} duplicate (unique_id, ds) row(s)")
    out = out.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    gaps = out.groupby(ID, sort=False)[DS].diff().dropna()
    if (gaps != WEEK).any():
        sid = out.loc[gaps[gaps != WEEK].index[0], ID]
        raise SchemaError(f"series {sid!r}: weeks are not consecutive (the panel must be dense)")
    return out


def future_index(last_ds: pd.Series, h: int) -> pd.DataFrame:
    """`unique_id, ds` of the h weeks after each series' last week (`last_ds` indexed by id)."""
    ids = np.repeat(last_ds.index.to_numpy(), h)
    steps = np.tile(np.arange(1, h + 1), len(last_ds))
    ds = np.repeat(last_ds.to_numpy(), h) + steps * np.timedelta64(7, "D")
    return pd.DataFrame({ID: ids, DS: pd.to_datetime(ds)})


def same_keys(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two frames hold the same `unique_id, ds` rows in the same order."""
    return (len(a) == len(b) and np.array_equal(a[ID].to_numpy(), b[ID].to_numpy())
            and np.array_equal(a[DS].to_numpy(), b[DS].to_numpy()))


def validate_forecast(
    out: pd.DataFrame, *, model: str, quantiles: Sequence[float], expected: pd.DataFrame
) -> pd.DataFrame:
    """Check a model's forecast against the expected `unique_id, ds` rows; sort its quantiles.

    Quantile columns are sorted row by row (so they never cross) and clipped at 0 (demand).
    """
    cols = forecast_columns(model, quantiles)
    missing = [c for c in [ID, DS, *cols] if c not in out.columns]
    if missing:
        raise SchemaError(f"model {model!r} returned no column(s) {missing}")
    out = out[[ID, DS, *cols]].copy()
    out[ID] = out[ID].astype(str)
    out[DS] = pd.to_datetime(out[DS]).astype("datetime64[ns]")
    if same_keys(out, expected):  # the rows asked for, in their order: nothing to join
        merged = out.reset_index(drop=True)
    else:
        merged = expected.merge(out, on=[ID, DS], how="left", indicator=True)
        if len(merged) != len(expected) or len(out) != len(expected):
            raise SchemaError(f"model {model!r} returned {len(out)} rows, expected {len(expected)}")
        if (merged["_merge"] != "both").any():
            raise SchemaError(f"model {model!r} did not forecast every (unique_id, ds) asked for")
        merged = merged.drop(columns="_merge")
    vals = merged[cols].to_numpy(dtype="float64")
    if not np.isfinite(vals).all():
        raise SchemaError(f"model {model!r} returned missing or infinite forecasts")
    vals = np.clip(vals, 0.0, None)
    qcols = cols[1:]
    merged[model] = vals[:, 0]
    merged[qcols] = np.sort(vals[:, 1:], axis=1)
    return merged
