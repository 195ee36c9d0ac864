"""Load the latest feature rows into the online store over the data's real time range."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.features.store import (
    FEATURE_MARTS,
    FeatureStoreError,
    feature_store,
    require_marts,
)
from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

if TYPE_CHECKING:
    from feast import FeatureStore


def data_time_range(config: Config) -> tuple[datetime, datetime]:
    """(first, last) point-in-time stamp over the Parquet marts Feast reads (UTC)."""
    marts = require_marts(config)
    parts = [
        f"select min({col}) as lo, max({col}) as hi from read_parquet({sql_str(mart_path(marts, m))})"
        for m, col in FEATURE_MARTS.items()
    ]
    con = duckdb.connect()
    try:
        lo, hi = con.execute(
            f"select min(lo), max(hi) from ({' union all '.join(parts)})"
        ).fetchone()
    finally:
        con.close()
    if lo is None:
        raise FeatureStoreError(f"the published marts in {marts} have no rows")
    return pd.Timestamp(lo).tz_convert(UTC).to_pydatetime(), pd.Timestamp(hi).tz_convert(UTC).to_pydatetime()


def materialize(
    config: Config,
    *,
    store: FeatureStore | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Load the latest row per item of every feature view into the online store.

    Covers the data's real range by default (START = the earliest stamp, END = the latest + 1 s):
    `feast materialize-incremental` would only look back one ttl on its first run, and the data
    may lie years before today. Returns a summary (range, store, seconds).
    """
    lo, hi = data_time_range(config)
    start = start or lo
    end = end or hi + timedelta(seconds=1)
    store = store or feature_store(config)
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    return {
        "online_store": store.config.online_store.type,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "latest_feature_at": hi.isoformat(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
