"""Point-in-time features for training: (item, timestamp) rows joined through Feast's offline store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.features.columns import coerce, service_info
from darkhorse.core.features.store import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    TRAINING_SERVICE,
    feature_store,
)

if TYPE_CHECKING:
    from feast import FeatureStore


def historical_features(
    config: Config,
    entities: pd.DataFrame,
    *,
    service: str = TRAINING_SERVICE,
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """Point-in-time features for (item_id, event_timestamp) rows, aligned with `entities`.

    A feature row is joined when its stamp is at or before the row's `event_timestamp` (and,
    for the weekly view, within the ttl): a week is visible once it has closed. Rows of
    `entities` keep their order and duplicates; other columns of `entities` are kept. Items
    without a row by then get nulls.
    """
    if ENTITY_KEY not in entities.columns or EVENT_TIMESTAMP not in entities.columns:
        raise ValueError(f"entities needs the columns {ENTITY_KEY!r} and {EVENT_TIMESTAMP!r}")
    store = store or feature_store(config)
    info = service_info(store, service)
    fs, dtypes = info.service, info.dtypes
    keys = pd.DataFrame(
        {
            ENTITY_KEY: entities[ENTITY_KEY].astype(str).to_numpy(),
            EVENT_TIMESTAMP: pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True)
            .astype("datetime64[us, UTC]")
            .array,
        }
    )
    unique = keys.drop_duplicates(ignore_index=True)
    if unique.empty:
        out = entities.copy()
        for col, dtype in dtypes.items():
            out[col] = pd.Series(dtype=dtype, index=out.index)
        return out
    job = store.get_historical_features(
        entity_df=unique,
        features=fs,
        # the marts carry no created stamp today; if a source adds one, rows created after the
        # cutoff (restatements) stay out instead of only breaking ties
        filter_by_created_timestamp=True,
    )
    got = job.to_df()
    got[EVENT_TIMESTAMP] = pd.to_datetime(got[EVENT_TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    got[ENTITY_KEY] = got[ENTITY_KEY].astype(str)
    got = got[[ENTITY_KEY, EVENT_TIMESTAMP, *dtypes]]
    merged = keys.merge(got, on=[ENTITY_KEY, EVENT_TIMESTAMP], how="left", validate="many_to_one")
    out = entities.copy()
    for col in dtypes:
        out[col] = merged[col].array
    return coerce(out, dtypes)
