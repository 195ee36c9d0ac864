"""The interval load panel through Feast: point-in-time windows for training, the latest window
online. Entity = series (`series_id`); the view is `series_interval_activity`, stamped with the
interval's close, so a row is joined at a timestamp only once its interval has closed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.features.columns import coerce, column_array, service_info
from darkhorse.core.features.store import (
    EVENT_TIMESTAMP,
    LOAD_SERVING_SERVICE,
    LOAD_TRAINING_SERVICE,
    SERIES_KEY,
    feature_store,
)

if TYPE_CHECKING:
    from feast import FeatureStore


def series_historical_features(
    config: Config,
    entities: pd.DataFrame,
    *,
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """Point-in-time load features for (series_id, event_timestamp) rows, in their order;
    a series without a closed interval by then (or older than the ttl) gets nulls."""
    if SERIES_KEY not in entities.columns or EVENT_TIMESTAMP not in entities.columns:
        raise ValueError(f"entities needs the columns {SERIES_KEY!r} and {EVENT_TIMESTAMP!r}")
    store = store or feature_store(config)
    info = service_info(store, LOAD_TRAINING_SERVICE)
    keys = pd.DataFrame(
        {
            SERIES_KEY: entities[SERIES_KEY].astype(str).to_numpy(),
            EVENT_TIMESTAMP: pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True)
            .astype("datetime64[us, UTC]")
            .array,
        }
    )
    unique = keys.drop_duplicates(ignore_index=True)
    out = entities.copy()
    if unique.empty:
        for col, dtype in info.dtypes.items():
            out[col] = pd.Series(dtype=dtype, index=out.index)
        return out
    got = store.get_historical_features(
        entity_df=unique, features=info.service, filter_by_created_timestamp=True
    ).to_df()
    got[EVENT_TIMESTAMP] = pd.to_datetime(got[EVENT_TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    got[SERIES_KEY] = got[SERIES_KEY].astype(str)
    merged = keys.merge(
        got[[SERIES_KEY, EVENT_TIMESTAMP, *info.dtypes]],
        on=[SERIES_KEY, EVENT_TIMESTAMP],
        how="left",
        validate="many_to_one",
    )
    for col in info.dtypes:
        out[col] = merged[col].array
    return coerce(out, info.dtypes)


def series_online_features(
    config: Config, series_ids: Iterable[str], *, store: FeatureStore | None = None
) -> pd.DataFrame:
    """The latest materialized window of each series, in request order: `series_id`,
    `feature_at` (the close of the interval it describes; null for an unknown series) and the
    service's features (null for an unknown series)."""
    store = store or feature_store(config)
    info = service_info(store, LOAD_SERVING_SERVICE)
    requested = [str(s) for s in series_ids]
    unique = list(dict.fromkeys(requested))
    values: dict[str, dict[str, object]] = {s: {} for s in unique}
    stamps: dict[str, pd.Timestamp | None] = dict.fromkeys(unique)
    if unique:
        response = store.get_online_features(
            features=info.service, entity_rows=[{SERIES_KEY: s} for s in unique]
        ).proto
        names = list(response.metadata.feature_names.val)
        for name, vector in zip(names, response.results, strict=True):
            if name == SERIES_KEY:
                continue
            for series, status, value, ts in zip(
                unique, vector.statuses, vector.values, vector.event_timestamps, strict=True
            ):
                if status != 1:  # PRESENT
                    continue
                kind = value.WhichOneof("val")
                values[series][name] = getattr(value, kind) if kind else None
                if ts.seconds:
                    stamps[series] = pd.Timestamp(ts.seconds + ts.nanos / 1e9, unit="s", tz="UTC")
    columns: dict[str, object] = {SERIES_KEY: requested}
    columns["feature_at"] = column_array(
        [None if stamps[s] is None else stamps[s].isoformat() for s in requested], "datetime64[us, UTC]"
    )
    for col, dtype in info.dtypes.items():
        columns[col] = column_array([values[s].get(col) for s in requested], dtype)
    return pd.DataFrame(columns)
