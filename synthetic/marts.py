"""A synthetic published panel: the marts Feast and the trainers read, made up in memory.

`synthetic_marts()` builds `item_weeks`, `item_week_labels` and `items` with the published
marts' schema (microsecond UTC timestamps) for N items x W weeks; `write_synthetic_marts()`
writes them as Parquet; `publish_snapshot()` writes them as a published snapshot and points
`data/marts` at it. The feature-store tests and benchmarks/bench_features.py use them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")

ITEM_WEEKS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("week_start", pa.date32()),
        ("available_at", TS),
        ("units", pa.float64()),
        ("returned_units", pa.float64()),
        ("revenue", pa.float64()),
        ("n_events", pa.int64()),
        ("customers", pa.int64()),
        ("helpful_votes", pa.float64()),
        ("verified_ratio", pa.float64()),
        ("mean_rating", pa.float64()),
        ("units_lookback_sum", pa.float64()),
        ("units_12w_sum", pa.float64()),
        ("revenue_lookback_sum", pa.float64()),
        ("customers_lookback_sum", pa.float64()),
        ("weeks_since_first_event", pa.int32()),
        ("week_of_year", pa.int32()),
    ]
)
SERIES_INTERVALS_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("interval_start", TS),
        ("available_at", TS),
        ("requests", pa.float64()),
        ("work_units", pa.float64()),
        ("log_rows", pa.int64()),
        ("requests_lookback_sum", pa.float64()),
        ("requests_day_sum", pa.float64()),
        ("work_units_lookback_sum", pa.float64()),
        ("requests_day_ago", pa.float64()),
        ("requests_week_ago", pa.float64()),
        ("minute_of_day", pa.int32()),
        ("day_of_week", pa.int32()),
        ("intervals_since_first", pa.int32()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("week_start", pa.date32()),
        ("available_at", TS),
        ("label_available_at", TS),
        ("units_lookback_sum", pa.float64()),
        ("units_future_sum", pa.float64()),
        ("growth_score", pa.float64()),
        ("is_eligible", pa.bool_()),
        ("is_label_known", pa.bool_()),
        ("n_candidates", pa.int64()),
        ("growth_rank", pa.int64()),
        ("is_hot_seller", pa.bool_()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("source_name", pa.string()),
        ("source_kind", pa.string()),
        ("description", pa.string()),
        ("title", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("first_event_at", TS),
        ("last_event_at", TS),
        ("first_week", pa.date32()),
        ("first_available_at", TS),
        ("last_active_week", pa.date32()),
        ("n_weeks", pa.int64()),
        ("n_active_weeks", pa.int64()),
        ("total_units", pa.float64()),
        ("total_returned_units", pa.float64()),
        ("total_revenue", pa.float64()),
        ("median_unit_price", pa.float64()),
        ("n_customers", pa.int64()),
        ("n_regions", pa.int64()),
        ("primary_region", pa.string()),
        ("n_variants", pa.int64()),
    ]
)
# weekly feature columns and the sentinel a leakage test plants in "future" weeks
SENTINEL_FLOAT = 1e9
SENTINEL_INT = 999_999_999
SENTINEL_INT32 = 2_000_000_000


# --------------------------------------------------------------------------- synthetic panel
def _rolling(cum: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last `window` columns (current included) from a cumulative sum."""
    out = cum.copy()
    out[:, window:] -= cum[:, :-window]
    return out


def synthetic_marts(
    *,
    n_items: int,
    n_weeks: int,
    start: dt.date = dt.date(2021, 1, 4),
    seed: int = 0,
    lookback: int = 4,
    horizon: int = 12,
    quantile: float = 0.95,
    launch_share: float = 0.3,
    sentinel_after: dt.datetime | None = None,
) -> dict[str, pd.DataFrame]:
    """A dense weekly panel with the marts' columns: `item_weeks`, `item_week_labels`, `items`.

    Weeks start on `start` (a Monday); `launch_share` of the items start later than the first
    week. With `sentinel_after`, every weekly feature of a week closing after that instant is
    replaced by a sentinel (`SENTINEL_FLOAT`, `SENTINEL_INT`, `SENTINEL_INT32`): any sentinel in
    a feature joined at an earlier cutoff is a leak.
    """
    if start.weekday() != 0:
        raise ValueError("start must be a Monday")
    rng = np.random.default_rng(seed)
    weeks = np.arange(n_weeks)
    first = np.where(
        rng.random(n_items) < launch_share, rng.integers(1, max(2, n_weeks // 2), n_items), 0
    )
    active = weeks[None, :] >= first[:, None]
    rate = rng.gamma(1.5, 4.0, n_items)
    season = 1 + 0.3 * np.sin(2 * np.pi * weeks / 52.0)
    surge = np.where(rng.random(n_items) < 0.05, rng.integers(0, n_weeks, n_items), n_weeks + 1)
    boost = 1 + 3.0 * (weeks[None, :] >= surge[:, None])
    units = rng.poisson(rate[:, None] * season[None, :] * boost).astype("float64") * active
    returned = np.minimum(rng.poisson(0.05 * units), units)
    price = rng.uniform(1, 50, n_items).round(2)
    revenue = (units * price[:, None]).round(2)
    n_events = (units > 0) * np.maximum(1, (units * 0.8).astype("int64"))
    customers = np.minimum(n_events, rng.poisson(0.7 * units).astype("int64"))
    has_reviews = n_events > 0
    helpful = np.where(has_reviews, rng.poisson(2.0, units.shape), np.nan).astype("float64")
    verified = np.where(has_reviews, rng.uniform(0, 1, units.shape).round(3), np.nan)
    rating = np.where(has_reviews, rng.uniform(1, 5, units.shape).round(2), np.nan)

    cu = np.cumsum(units, axis=1)
    units_lb = _rolling(cu, lookback)
    units_12 = _rolling(cu, 12)
    rev_lb = _rolling(np.cumsum(revenue, axis=1), lookback).round(2)
    cust_lb = _rolling(np.cumsum(customers, axis=1), lookback).astype("float64")
    future = np.full(units.shape, np.nan)
    if n_weeks > horizon:
        future[:, : n_weeks - horizon] = cu[:, horizon:] - cu[:, : n_weeks - horizon]

    week_start = pd.to_datetime(start) + pd.to_timedelta(weeks * 7, unit="D")
    close = (week_start + pd.Timedelta(days=7)).tz_localize("UTC")
    ii, ww = np.nonzero(active)
    ids = np.array([f"I{i:06d}" for i in range(n_items)], dtype=object)

    iw = pd.DataFrame(
        {
            "item_id": ids[ii],
            "week_start": week_start[ww].date,
            "available_at": close[ww],
            "units": units[ii, ww],
            "returned_units": returned[ii, ww].astype("float64"),
            "revenue": revenue[ii, ww],
            "n_events": n_events[ii, ww].astype("int64"),
            "customers": customers[ii, ww].astype("int64"),
            "helpful_votes": helpful[ii, ww],
            "verified_ratio": verified[ii, ww],
            "mean_rating": rating[ii, ww],
            "units_lookback_sum": units_lb[ii, ww],
            "units_12w_sum": units_12[ii, ww],
            "revenue_lookback_sum": rev_lb[ii, ww],
            "customers_lookback_sum": cust_lb[ii, ww],
            "weeks_since_first_event": (ww - first[ii]).astype("int32"),
            "week_of_year": week_start[ww].isocalendar().week.to_numpy().astype("int32"),
        }
    )
    if sentinel_after is not None:
        late = (iw["available_at"] > pd.Timestamp(sentinel_after)).to_numpy()
        for f in ITEM_WEEKS_SCHEMA:
            if f.name in ("item_id", "week_start", "available_at"):
                continue
            value = (
                SENTINEL_FLOAT
                if pa.types.is_floating(f.type)
                else SENTINEL_INT32
                if f.type == pa.int32()
                else SENTINEL_INT
            )
            iw.loc[late, f.name] = value

    lab = pd.DataFrame(
        {
            "item_id": ids[ii],
            "week_start": week_start[ww].date,
            "available_at": close[ww],
            "label_available_at": close[ww] + pd.Timedelta(weeks=horizon),
            "units_lookback_sum": units_lb[ii, ww],
            "units_future_sum": future[ii, ww],
        }
    )
    lab["growth_score"] = (lab["units_future_sum"] / horizon) / np.maximum(
        lab["units_lookback_sum"] / lookback, 1.0
    )
    lab["is_eligible"] = lab["units_lookback_sum"] >= 1
    lab["is_label_known"] = lab["units_future_sum"].notna()
    cand = lab["is_eligible"] & lab["is_label_known"]
    lab["n_candidates"] = cand.groupby(lab["week_start"]).transform("sum").astype("int64")
    rank = (
        lab["growth_score"]
        .where(cand)
        .groupby(lab["week_start"])
        .rank(method="min", ascending=False)
    )
    lab["growth_rank"] = rank.astype("Int64")
    cut = np.ceil(np.round((1 - quantile) * lab["n_candidates"], 9))
    hot = cand & (lab["growth_score"] > 0) & (rank <= cut)
    lab["is_hot_seller"] = hot.astype("boolean").where(lab["is_label_known"], pd.NA)

    first_week = week_start[first]
    last_active = np.where(
        units.any(axis=1), n_weeks - 1 - np.argmax(units[:, ::-1] > 0, axis=1), first
    )
    items = pd.DataFrame(
        {
            "item_id": ids,
            "source_name": "synthetic",
            "source_kind": np.where(np.arange(n_items) % 2 == 0, "amazon_reviews", "sales"),
            "description": [f"synthetic item {i}" for i in range(n_items)],
            "title": None,
            "category": [f"category {i % 4}" for i in range(n_items)],
            "brand": [f"brand {i % 3}" if i % 2 else None for i in range(n_items)],
            "first_event_at": first_week.tz_localize("UTC") + pd.Timedelta(hours=9),
            "last_event_at": week_start[last_active].tz_localize("UTC") + pd.Timedelta(hours=17),
            "first_week": first_week.date,
            "first_available_at": (first_week + pd.Timedelta(days=7)).tz_localize("UTC"),
            "last_active_week": week_start[last_active].date,
            "n_weeks": (n_weeks - first).astype("int64"),
            "n_active_weeks": (units > 0).sum(axis=1).astype("int64"),
            "total_units": units.sum(axis=1),
            "total_returned_units": returned.sum(axis=1).astype("float64"),
            "total_revenue": revenue.sum(axis=1).round(2),
            "median_unit_price": price,
            "n_customers": customers.sum(axis=1).astype("int64"),
            "n_regions": np.int64(1),
            "primary_region": "GB",
            "n_variants": np.int64(1),
        }
    )
    return {"item_weeks": iw, "item_week_labels": lab, "items": items}


def write_synthetic_marts(marts_dir: Path, **kwargs: Any) -> dict[str, pd.DataFrame]:
    """Write `synthetic_marts(**kwargs)` as Parquet into `marts_dir`; returns the frames."""
    marts_dir = Path(marts_dir)
    marts_dir.mkdir(parents=True, exist_ok=True)
    frames = synthetic_marts(**kwargs)
    schemas = {
        "item_weeks": ITEM_WEEKS_SCHEMA,
        "item_week_labels": LABELS_SCHEMA,
        "items": ITEMS_SCHEMA,
    }
    for name, df in frames.items():
        table = pa.Table.from_pandas(df, schema=schemas[name], preserve_index=False)
        pq.write_table(table, marts_dir / f"{name}.parquet")
    # a build without a request_log source exports the interval load panel without rows
    pq.write_table(SERIES_INTERVALS_SCHEMA.empty_table(), marts_dir / "series_intervals.parquet")
    return frames


def publish_snapshot(
    data_dir: Path, run_id: str, **kwargs: Any
) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Write synthetic marts to `data_dir/published/<run_id>` and point `data_dir/marts` at it
    the way the publish step does (a relative symlink switched with one rename)."""
    target = data_dir / "published" / run_id
    frames = write_synthetic_marts(target, **kwargs)
    link = data_dir / "marts"
    tmp = data_dir / f".marts.{run_id}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(target, data_dir), tmp, target_is_directory=True)
    os.replace(tmp, link)
    return target, frames
