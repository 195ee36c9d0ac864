"""Known-future covariates (config `known_future`) through Feast's offline store.

The mart `item_week_covariates` stamps the row of week w with `known_at = w - (horizon - 1)
weeks`, the close of the origin week a horizon before w. Asked at that stamp, the point-in-time
join serves exactly week w's row (the latest one known then); its `covariate_week` proves it.
At an origin, a covariate of a week is therefore available when that week lies within the
horizon after the origin, and never further ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.features.offline import historical_features
from darkhorse.core.features.store import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    KNOWN_FUTURE_SERVICE,
    FeatureStoreError,
)

if TYPE_CHECKING:
    from feast import FeatureStore

WEEK_COLUMN = "covariate_week"


def known_at(config: Config, weeks: pd.Series) -> pd.Series:
    """When the covariates of each week (its start date) are known: `horizon - 1` weeks before."""
    start = pd.to_datetime(pd.Series(weeks)).dt.tz_localize(None)  # week starts are UTC dates
    return (start - pd.Timedelta(weeks=config.panel.horizon_weeks - 1)).dt.tz_localize("UTC")


def known_future_features(
    config: Config, pairs: pd.DataFrame, *, store: FeatureStore | None = None
) -> pd.DataFrame:
    """The known-future covariates of (item_id, week_start) pairs, as served by Feast at each
    week's `known_at`: `item_id, week_start` + one float column per declared covariate.

    Raises `FeatureStoreError` when a pair has no row (the mart covers the panel's weeks and a
    horizon after them; a week outside that is not known).
    """
    names = [c.feature for c in config.known_future()]
    if not names:
        return pairs[[ENTITY_KEY, "week_start"]].copy()
    weeks = pd.to_datetime(pairs["week_start"])
    entities = pd.DataFrame(
        {ENTITY_KEY: pairs[ENTITY_KEY].astype(str).to_numpy(), EVENT_TIMESTAMP: known_at(config, weeks).array}
    )
    got = historical_features(config, entities, service=KNOWN_FUTURE_SERVICE, store=store)
    served = pd.to_datetime(got[WEEK_COLUMN], utc=True).dt.tz_localize(None)
    wrong = served.isna().to_numpy() | (served.to_numpy() != weeks.to_numpy())
    if wrong.any():
        first = pairs.loc[wrong].iloc[0]
        raise FeatureStoreError(
            f"{KNOWN_FUTURE_SERVICE}: no covariates for {int(wrong.sum())} of {len(pairs)} item-weeks "
            f"(first: item {first[ENTITY_KEY]!r}, week {pd.Timestamp(first['week_start']).date()}); "
            "the mart item_week_covariates covers the panel's weeks and a horizon after them"
        )
    out = pd.DataFrame({ENTITY_KEY: pairs[ENTITY_KEY].astype(str).to_numpy(), "week_start": weeks.to_numpy()})
    for n in names:
        out[n] = pd.to_numeric(got[n], errors="coerce").astype("float64").to_numpy()
    return out
